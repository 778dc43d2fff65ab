"""Point the process-wide settings, engine and vault at a test database."""

from __future__ import annotations

import pytest

from connections_app.core.db import reset_engine
from connections_app.core.settings import get_settings


def use_database(
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    *,
    master_key: str | None = None,
    data_dir: str | None = None,
) -> None:
    monkeypatch.setenv("REFLEX_DB_URL", db_url)
    if master_key is not None:
        monkeypatch.setenv("CONNECTIONS_MASTER_KEY", master_key)
    if data_dir is not None:
        monkeypatch.setenv("CONNECTIONS_DATA_DIR", data_dir)
    get_settings.cache_clear()
    reset_engine()
    monkeypatch.setattr("connections_app.core.settings.get_settings", get_settings)
