"""The shipped catalog loads and validates; a broken definition or override fails loudly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from connections_app.core.catalog.loader import (
    APPS_DIR,
    CatalogError,
    load_catalog,
    load_catalog_from_dir,
)
from connections_app.core.catalog.models import render
from connections_app.core.errors import Invalid

REQUIRED_APPS = {
    "slack",
    "hubspot",
    "stripe",
    "freshdesk",
    "twilio",
    "github",
    "openai",
    "anthropic",
    "postgresql",
    "custom_api_key",
    "custom_oauth2",
}


def _copy_catalog(tmp_path: Path) -> Path:
    target = tmp_path / "apps"
    shutil.copytree(APPS_DIR, target)
    return target


def test_every_required_app_is_shipped_and_declares_how_it_is_used() -> None:
    catalog = load_catalog()
    assert {app.key for app in catalog.apps} >= REQUIRED_APPS
    for app in catalog.apps:
        assert app.auth_methods, app.key
        assert (APPS_DIR.parents[3] / "assets" / app.icon.lstrip("/")).exists(), app.icon
        for method in app.auth_methods:
            if method.kind == "oauth2":
                assert app.oauth is not None, app.key
            else:
                assert method.apply is not None, app.key
                assert any(f.secret for f in method.fields), app.key


def test_extra_fields_are_validated_and_named_by_label() -> None:
    method = load_catalog().get("freshdesk").auth_method("api_key")
    config, secrets = method.validate({"subdomain": "acme", "api_key": "Abcdefgh1234"})
    assert config == {"subdomain": "acme"}
    assert secrets == {"api_key": "Abcdefgh1234"}
    with pytest.raises(Invalid) as err:
        method.validate({"subdomain": "not a subdomain!", "api_key": "Abcdefgh1234"})
    assert "Freshdesk subdomain" in str(err.value)
    with pytest.raises(Invalid) as err:
        method.validate({"subdomain": "acme", "api_key": "short!"})
    assert "short!" not in str(err.value), "a rejected secret must never be echoed"


def test_search_matches_name_and_category() -> None:
    catalog = load_catalog()
    assert [a.key for a in catalog.search("strip")] == ["stripe"]
    assert len(catalog.search("")) == len(catalog)
    assert catalog.search("no such app at all") == []


def test_unknown_app_is_a_user_error() -> None:
    with pytest.raises(Invalid):
        load_catalog().get("nope")
    with pytest.raises(Invalid):
        load_catalog().get(["stripe"])


def test_base_url_override_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTIONS_APP_STRIPE_BASE_URL", "http://127.0.0.1:9/stripe")
    assert load_catalog().get("stripe").base_url == "http://127.0.0.1:9/stripe"


def test_override_precedence_argument_beats_file_beats_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CONNECTIONS_APP_GITHUB_BASE_URL", "http://env.example/")
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"github": {"base_url": "http://file.example/"}}))
    monkeypatch.setenv("CONNECTIONS_CATALOG_OVERRIDES", str(overrides))
    assert load_catalog().get("github").base_url == "http://file.example/"
    argument = {"github": {"base_url": "http://arg.example/"}}
    assert load_catalog(argument).get("github").base_url == "http://arg.example/"


@pytest.mark.parametrize(
    "overrides",
    [
        {"stripe": {"base_url": "ftp://files.example"}},
        {"stripe": {"base_url": 42}},
        {"stripe": {"name": "Not Stripe"}},
        {"no_such_app": {"base_url": "http://x.example"}},
    ],
)
def test_bad_overrides_are_refused(overrides: dict) -> None:
    with pytest.raises(CatalogError):
        load_catalog(overrides)


def test_unreadable_override_file_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    monkeypatch.setenv("CONNECTIONS_CATALOG_OVERRIDES", str(broken))
    with pytest.raises(CatalogError, match="CONNECTIONS_CATALOG_OVERRIDES"):
        load_catalog()


def test_a_definition_with_an_unknown_field_fails_loading(tmp_path: Path) -> None:
    apps = _copy_catalog(tmp_path)
    data = json.loads((apps / "stripe.json").read_text())
    data["surprise"] = True
    (apps / "stripe.json").write_text(json.dumps(data))
    with pytest.raises(CatalogError, match=r"stripe\.json"):
        load_catalog_from_dir(apps)


def test_a_definition_must_be_named_after_its_key(tmp_path: Path) -> None:
    apps = _copy_catalog(tmp_path)
    (apps / "stripe.json").rename(apps / "stripe2.json")
    with pytest.raises(CatalogError, match="must equal the file name"):
        load_catalog_from_dir(apps)


def test_a_pattern_that_does_not_compile_fails_loading(tmp_path: Path) -> None:
    apps = _copy_catalog(tmp_path)
    data = json.loads((apps / "stripe.json").read_text())
    data["auth_methods"][0]["fields"][0]["pattern"] = "(["
    (apps / "stripe.json").write_text(json.dumps(data))
    with pytest.raises(CatalogError, match="stripe"):
        load_catalog_from_dir(apps)


def test_spliced_values_are_quoted_but_a_whole_url_field_is_taken_as_is() -> None:
    values = {"subdomain": "a/b@evil", "base_url": "http://127.0.0.1:9/api"}
    assert render("https://{subdomain}.freshdesk.com", values, quote_values=True) == (
        "https://a%2Fb%40evil.freshdesk.com"
    )
    assert render("{base_url}", values, quote_values=True) == "http://127.0.0.1:9/api"


@pytest.mark.parametrize(
    ("app", "field"),
    [("freshdesk", "subdomain"), ("custom_api_key", "base_url"), ("custom_api_key", "header_name")],
)
def test_a_field_that_decides_where_a_secret_goes_must_be_a_destination(
    tmp_path: Path, app: str, field: str
) -> None:
    apps = _copy_catalog(tmp_path)
    path = apps / f"{app}.json"
    data = json.loads(path.read_text())
    for method in data["auth_methods"]:
        for spec in method.get("fields", []):
            if spec["name"] == field:
                spec["destination"] = False
    path.write_text(json.dumps(data))
    with pytest.raises(CatalogError, match="destination"):
        load_catalog_from_dir(apps)


def test_the_shipped_catalog_marks_its_destinations() -> None:
    catalog = load_catalog()
    marked = {
        (app.key, m.kind): sorted(f.name for f in m.destination_fields)
        for app in catalog.apps
        for m in app.auth_methods
        if m.destination_fields
    }
    assert marked == {
        ("custom_api_key", "api_key"): ["base_url", "header_name"],
        ("custom_api_key", "custom"): ["base_url"],
        ("custom_oauth2", "oauth2"): ["api_base_url", "oauth_app_id"],
        ("freshdesk", "api_key"): ["subdomain"],
    }
