"""Backup and restore (docs/operations.md): a database backup plus the master key,
restored into a fresh data directory, opens every credential; the same backup without
the key refuses to start, clearly, and creates no new key."""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from connections_app import cli
from connections_app.core import migrations
from connections_app.core.catalog import get_catalog
from connections_app.core.connections import runtime
from connections_app.core.connections.models import Connection, Purpose
from connections_app.core.db import build_engine
from connections_app.core.settings import load_settings
from connections_app.core.vault import open_vault, set_vault
from tests.integration.cli_env import use_database

ROOT = Path(__file__).resolve().parents[2]
ADMIN = str(Path(sys.executable).parent / "connections-admin")
SECRETS = [f"sk_live_BackupRestore{n:012d}" for n in range(3)]


def _pg(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _backup(db_url: str, to: Path) -> None:
    """What docs/operations.md says: SQLite's online backup, or pg_dump -Fc."""
    if db_url.startswith("sqlite"):
        source = sqlite3.connect(make_url(db_url).database)
        target = sqlite3.connect(to)
        with target:
            source.backup(target)
        source.close()
        target.close()
    else:
        subprocess.run(["pg_dump", "-Fc", "-f", str(to), _pg(db_url)], check=True, timeout=120)


def _restore(db_url: str, backup: Path, data_dir: Path) -> str:
    """Into a fresh place: a new SQLite file in the data directory, or a new database."""
    if db_url.startswith("sqlite"):
        shutil.copyfile(backup, data_dir / "connections.db")
        return f"sqlite:///{data_dir / 'connections.db'}"
    import psycopg

    server = make_url(db_url)
    name = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg(db_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    restored = server.set(database=name).render_as_string(hide_password=False)
    subprocess.run(
        ["pg_restore", "--no-owner", "-d", _pg(restored), str(backup)], check=True, timeout=120
    )
    return restored


def _env(db_url: str, data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "REFLEX_DB_URL": db_url, "CONNECTIONS_DATA_DIR": str(data_dir)}
    env.update({"REFLEX_TELEMETRY_ENABLED": "false", "CONNECTIONS_LOG_LEVEL": "WARNING"})
    for name in ("CONNECTIONS_MASTER_KEY", "CONNECTIONS_PREVIOUS_MASTER_KEY"):
        env.pop(name, None)
    return env


def test_backup_plus_key_restores_and_backup_without_key_refuses(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live, backups, key_safe, fresh, keyless = (tmp_path / d for d in ("live", "b", "k", "f", "n"))
    for d in (live, backups, key_safe, fresh, keyless):
        d.mkdir()
    migrations.upgrade(db_url)
    monkeypatch.delenv("CONNECTIONS_MASTER_KEY", raising=False)
    use_database(monkeypatch, db_url, data_dir=str(live))
    set_vault(None)

    def run(args: list[str], stdin: str = "") -> int:
        return cli.main(args, out=io.StringIO(), stdin=io.StringIO(stdin))

    assert run(["account", "create", "--name", "Acme", "--slug", "acme"]) == 0
    assert run(["workspace", "create", "--account", "acme", "--name", "Ops", "--slug", "ops"]) == 0
    for n, secret in enumerate(SECRETS):
        add = ["connection", "add", "--account", "acme", "--workspace", "ops", "--app", "stripe"]
        assert run([*add, "--label", f"Stripe {n}"], stdin=secret) == 0
    set_vault(None)

    # the backup: the database one place, the master key another
    _backup(db_url, backups / "connections.backup")
    shutil.copy2(live / "master.key", key_safe / "master.key")

    # restore both into a fresh data directory: every credential resolves
    restored = _restore(db_url, backups / "connections.backup", fresh)
    shutil.copy2(key_safe / "master.key", fresh / "master.key")
    os.chmod(fresh / "master.key", 0o600)
    monkeypatch.setenv("CONNECTIONS_DATA_DIR", str(fresh))
    monkeypatch.setenv("REFLEX_DB_URL", restored)
    engine = build_engine(restored)
    resolved = []
    with Session(engine) as db:
        vault = open_vault(db, load_settings())
        for conn in db.exec(select(Connection).order_by(Connection.label)).all():
            app = get_catalog().get(conn.app)
            method = app.auth_method(conn.kind)
            request = httpx.Request("POST", app.resolve_base_url(conn.config) + "/v1/customers")
            runtime.authorize(
                db, vault=vault, conn=conn, method=method, purpose=Purpose.LIVE, request=request
            )
            resolved.append(request.headers["Authorization"])
        db.rollback()
    engine.dispose()
    assert resolved == [f"Bearer {s}" for s in SECRETS]
    listed = subprocess.run(
        [ADMIN, "connection", "list", "--account", "acme", "--workspace", "ops"],
        env=_env(restored, fresh),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 3, listed.stderr

    # the same backup without the key: the CLI and the app refuse, clearly; no new key
    bare = _restore(db_url, backups / "connections.backup", keyless)
    cli_start = subprocess.run(
        [ADMIN, "keys", "status"], env=_env(bare, keyless), capture_output=True, text=True
    )
    app_start = subprocess.run(
        [sys.executable, "-c", "import connections_app.connections_app"],
        cwd=ROOT,
        env=_env(bare, keyless),
        capture_output=True,
        text=True,
        timeout=300,
    )
    for result in (cli_start, app_start):
        assert result.returncode != 0
        assert "No master key" in result.stderr and "restore the key file" in result.stderr
        assert "Traceback" not in result.stderr
    assert cli_start.returncode == cli.EXIT_KEYS
    assert "refusing to start" in app_start.stderr
    assert not (keyless / "master.key").exists()
    if not db_url.startswith("sqlite"):
        import psycopg

        with psycopg.connect(_pg(db_url), autocommit=True) as conn:
            for url in (restored, bare):
                name = make_url(url).database
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
