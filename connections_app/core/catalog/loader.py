"""Loads the app catalog from its JSON files and applies per-installation overrides.

Overrides exist for self-hosted providers and for the stand-in provider in tests
and the demo: `CONNECTIONS_APP_<KEY>_BASE_URL` (and `_AUTHORIZE_URL`,
`_TOKEN_URL`, `_REVOKE_URL`, `_IDENTITY_URL`), a JSON file named by
`CONNECTIONS_CATALOG_OVERRIDES`, or the `overrides` argument, in increasing
precedence. A model provider's list prices can be overridden the same way
(`{"openai": {"metering": {"prices": {"gpt-4o": {"input": …, "output": …}}}}}`,
merged per model); an account's own prices are `ModelPrice` rows.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from connections_app.core.catalog.models import AppDefinition
from connections_app.core.errors import Invalid

APPS_DIR = Path(__file__).resolve().parent / "apps"
_ENV_URLS = {
    "BASE_URL": ("base_url",),
    "AUTHORIZE_URL": ("oauth", "authorize_url"),
    "TOKEN_URL": ("oauth", "token_url"),
    "REVOKE_URL": ("oauth", "revoke_url"),
    "IDENTITY_URL": ("oauth", "identity_url"),
}


class CatalogError(Exception):
    """A shipped or overridden app definition is wrong: the installation must be fixed."""


class Catalog:
    def __init__(self, apps: list[AppDefinition]) -> None:
        self.apps = sorted(apps, key=lambda a: (a.key.startswith("custom"), a.name.casefold()))
        self._by_key = {a.key: a for a in self.apps}

    def get(self, app_key: object) -> AppDefinition:
        app = self._by_key.get(app_key) if isinstance(app_key, str) else None
        if app is None:
            raise Invalid("Unknown app. Choose one from the catalog.", field="app")
        return app

    def find(self, app_key: object) -> AppDefinition | None:
        """For history views: an app removed from the catalog still shows its key."""
        return self._by_key.get(app_key) if isinstance(app_key, str) else None

    def search(self, text: str) -> list[AppDefinition]:
        text = text.strip()
        if not text:
            return list(self.apps)
        return [a for a in self.apps if a.matches(text)]

    def __len__(self) -> int:
        return len(self.apps)


def _check_url(app: str, what: str, value: object) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        raise CatalogError(f"override {what} for {app} must be an http(s) URL")
    return value


def _env_overrides(keys: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for key in keys:
        for suffix, path in _ENV_URLS.items():
            value = os.environ.get(f"CONNECTIONS_APP_{key.upper()}_{suffix}")
            if not value:
                continue
            entry = found.setdefault(key, {})
            if len(path) == 1:
                entry[path[0]] = value
            else:
                entry.setdefault(path[0], {})[path[1]] = value
    return found


def _file_overrides() -> dict[str, dict[str, Any]]:
    name = os.environ.get("CONNECTIONS_CATALOG_OVERRIDES")
    if not name:
        return {}
    try:
        data = json.loads(Path(name).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CatalogError(f"cannot read CONNECTIONS_CATALOG_OVERRIDES ({name}): {err}") from None
    if not isinstance(data, dict):
        raise CatalogError("CONNECTIONS_CATALOG_OVERRIDES must hold a JSON object")
    return data


def _merge(*layers: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for app, values in layer.items():
            entry = merged.setdefault(app, {})
            for key, value in values.items():
                if key == "oauth" and isinstance(value, Mapping):
                    entry.setdefault("oauth", {}).update(value)
                else:
                    entry[key] = value
    return merged


def _validate_override(app: str, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if key == "base_url":
            _check_url(app, key, value)
        elif key == "oauth" and isinstance(value, Mapping):
            for sub, url in value.items():
                if url is not None:
                    _check_url(app, f"oauth.{sub}", url)
        elif key == "metering" and isinstance(value, Mapping) and set(value) <= {"prices"}:
            continue  # an installation's own list prices; the model validates them
        else:
            raise CatalogError(f"override {key} for {app} is not supported")


def load_catalog_from_dir(
    path: Path, overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> Catalog:
    apps: list[AppDefinition] = []
    for file in sorted(Path(path).glob("*.json")):
        try:
            app = AppDefinition.model_validate_json(file.read_text())
        except ValidationError as err:
            raise CatalogError(f"{file.name}: {err}") from None
        if app.key != file.stem:
            raise CatalogError(f"{file.name}: key {app.key!r} must equal the file name")
        apps.append(app)
    keys = [a.key for a in apps]
    merged = _merge(_env_overrides(keys), _file_overrides(), overrides or {})
    unknown = set(merged) - set(keys)
    if unknown:
        raise CatalogError(f"overrides name unknown apps: {sorted(unknown)}")
    result = []
    for app in apps:
        if app.key in merged:
            _validate_override(app.key, merged[app.key])
            try:
                app = app.with_overrides(merged[app.key])
            except ValidationError as err:
                raise CatalogError(f"override for {app.key}: {err}") from None
        result.append(app)
    return Catalog(result)


def load_catalog(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Catalog:
    return load_catalog_from_dir(APPS_DIR, overrides)


_cached: Catalog | None = None
_lock = threading.Lock()


def get_catalog() -> Catalog:
    global _cached
    with _lock:
        if _cached is None:
            _cached = load_catalog()
        return _cached


def reset_catalog_cache() -> None:
    global _cached
    with _lock:
        _cached = None
