"""`/healthz` and `/readyz` through the real Starlette routes on real databases: ready
on a migrated, sealed database; not ready with a wrong master key, an unmigrated
database, a stopped PostgreSQL server (then ready again once it is started) or an
unreachable Redis; and never an error text, a URL or a key in the answer or the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from connections_app.core.db import reset_engine
from connections_app.core.settings import get_settings
from connections_app.core.vault import Vault, generate_master_key, set_vault
from connections_app.http import health_routes
from scripts import local_services

ALL_READY = {"database": True, "migrations": True, "vault": True}


def _client(monkeypatch: pytest.MonkeyPatch, db_url: str, **env: str) -> TestClient:
    monkeypatch.setenv("REFLEX_DB_URL", db_url)
    monkeypatch.delenv("REFLEX_REDIS_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    reset_engine()
    return TestClient(Starlette(routes=health_routes.routes))


@pytest.fixture
def client(
    db_url: str, engine: Engine, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> TestClient:
    return _client(monkeypatch, db_url)


def test_healthz_answers_without_a_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = local_services.free_port()
    web = _client(monkeypatch, f"postgresql+psycopg://u:p@127.0.0.1:{closed}/none")
    response = web.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


def test_ready_on_a_migrated_sealed_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"ready": True, "checks": ALL_READY}


def test_a_wrong_master_key_is_not_ready(
    db_url: str,
    engine: Engine,
    vault: Vault,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = generate_master_key()
    web = _client(monkeypatch, db_url, CONNECTIONS_MASTER_KEY=wrong)
    set_vault(None)  # this process opens the vault afresh, with the wrong key
    try:
        with caplog.at_level(logging.WARNING):
            response = web.get("/readyz")
    finally:
        set_vault(vault)
    assert response.status_code == 503
    assert response.json() == {
        "ready": False,
        "checks": {"database": True, "migrations": True, "vault": False},
    }
    assert "vault check failed (WrongMasterKey)" in caplog.text
    assert wrong not in caplog.text and wrong not in response.text


def test_an_unmigrated_database_is_not_ready(
    tmp_path: Path, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    web = _client(monkeypatch, f"sqlite:///{tmp_path / 'empty.db'}")
    response = web.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "ready": False,
        "checks": {"database": True, "migrations": False, "vault": False},
    }


def test_a_schema_behind_the_code_is_not_ready(
    tmp_path: Path, vault: Vault, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from alembic import command
    from connections_app.core import migrations

    url = f"sqlite:///{tmp_path / 'behind.db'}"
    command.upgrade(migrations.alembic_config(url), "0001")
    web = _client(monkeypatch, url)
    caplog.clear()  # the probe's records only, not the upgrade's above
    with caplog.at_level(logging.INFO):
        response = web.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "migrations": False, "vault": False}
    assert "migrations check failed (SchemaNotCurrent)" in caplog.text
    assert "Context impl" not in caplog.text  # a probe does not log Alembic's set-up lines


def test_an_unreachable_redis_is_not_ready(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    closed = local_services.free_port()
    url = f"redis://:hunter2-secret@127.0.0.1:{closed}/0"
    monkeypatch.setenv("REFLEX_REDIS_URL", url)
    get_settings.cache_clear()
    with caplog.at_level(logging.WARNING):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {**ALL_READY, "redis": False}
    assert "hunter2" not in caplog.text and "hunter2" not in response.text
    assert str(closed) not in response.text


def test_a_running_redis_is_ready(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if local_services.shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed")
    with local_services.redis_server(tmp_path) as url:
        monkeypatch.setenv("REFLEX_REDIS_URL", url)
        get_settings.cache_clear()
        response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {**ALL_READY, "redis": True}


@pytest.fixture
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local_services.Postgres]:
    """A PostgreSQL server of this test's own, which it may stop and start (the shared
    test server must keep running for every other test)."""
    home = tmp_path_factory.mktemp("pg")
    workdir = local_services.cluster_dir(f"readyz-{home.name}", home)
    cluster = local_services.postgres(workdir)
    if cluster is None:
        pytest.skip("PostgreSQL is not installed")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop("immediate")
        local_services.shutil.rmtree(workdir, ignore_errors=True)


def test_readiness_follows_the_postgresql_server(
    db_url: str,
    own_postgres: local_services.Postgres,
    master_key_bytes: bytes,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("runs once: the test brings its own PostgreSQL server")
    from connections_app.core import migrations
    from connections_app.core.db import build_engine, session_scope
    from connections_app.core.vault import LocalMasterKey

    migrations.upgrade(own_postgres.url)
    pg_vault = Vault(LocalMasterKey(master_key_bytes))
    pg_engine = build_engine(own_postgres.url)
    with session_scope(pg_engine) as db:
        pg_vault.verify(db)
        pg_vault.install_check(db)
        db.commit()
    pg_engine.dispose()
    web = _client(monkeypatch, own_postgres.url)
    set_vault(pg_vault)
    try:
        assert web.get("/readyz").json() == {"ready": True, "checks": ALL_READY}

        own_postgres.stop()
        with caplog.at_level(logging.WARNING):
            stopped = web.get("/readyz")
        assert stopped.status_code == 503
        assert stopped.json() == {
            "ready": False,
            "checks": {"database": False, "migrations": False, "vault": False},
        }
        assert "database check failed (OperationalError)" in caplog.text
        assert own_postgres.password not in caplog.text + stopped.text
        assert web.get("/healthz").status_code == 200  # alive all the same

        own_postgres.start()
        again = web.get("/readyz")
        assert again.status_code == 200, again.text
        assert again.json() == {"ready": True, "checks": ALL_READY}
    finally:
        reset_engine()
