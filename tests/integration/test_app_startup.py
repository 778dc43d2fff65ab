"""The web app's start-up refuses, with one clear sentence and no traceback, to serve
an unmigrated database or to open a database sealed under another master key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from connections_app.core import migrations
from connections_app.core.db import build_engine
from connections_app.core.vault import generate_master_key
from tests.integration.dbdump import dump

ROOT = Path(__file__).resolve().parents[2]


def _import_app(
    tmp_path: Path, db_url: str, master_key: str, **extra: str
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "REFLEX_DB_URL": db_url,
        "CONNECTIONS_DATA_DIR": str(tmp_path / "data"),
        "CONNECTIONS_MASTER_KEY": master_key,
        "REFLEX_TELEMETRY_ENABLED": "false",
        **extra,
    }
    return subprocess.run(
        [sys.executable, "-c", "import connections_app.connections_app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _dump(url: str) -> str:
    engine = build_engine(url)
    try:
        return dump(engine)
    finally:
        engine.dispose()


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


def test_unmigrated_database_refuses_start(tmp_path: Path) -> None:
    result = _import_app(tmp_path, _sqlite(tmp_path), generate_master_key())
    assert result.returncode != 0
    assert "refusing to start" in result.stderr
    assert "make migrate" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrated_database_starts_and_wrong_key_refuses(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    migrations.upgrade(url)
    right = generate_master_key()
    ok = _import_app(tmp_path, url, right)
    assert ok.returncode == 0, ok.stderr

    wrong = generate_master_key()
    before = _dump(url)
    refused = _import_app(tmp_path, url, wrong)
    assert refused.returncode != 0
    assert "refusing to start" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert wrong not in refused.stderr and right not in refused.stderr
    # Nothing was written: the sealed database is untouched by the refused start.
    assert _dump(url) == before


def test_an_unreadable_egress_entry_refuses_start(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    migrations.upgrade(url)
    refused = _import_app(
        tmp_path, url, generate_master_key(), CONNECTIONS_EGRESS_DENY="10.0.0.0/8 :nope"
    )
    assert refused.returncode != 0
    assert "refusing to start" in refused.stderr and "CONNECTIONS_EGRESS_DENY" in refused.stderr
    assert "Traceback" not in refused.stderr


_FORK_PROBE = """
import os
import connections_app.connections_app
from connections_app.core.db import get_engine

parent = get_engine().pool.checkedin()
pid = os.fork()
if pid == 0:
    os._exit(0 if get_engine().pool.checkedin() == 0 else 3)
_, status = os.waitpid(pid, 0)
print(parent, os.waitstatus_to_exitcode(status))
"""


def test_a_forked_backend_worker_does_not_reuse_the_preflights_connections(
    tmp_path: Path,
) -> None:
    """Granian forks the backend workers after the preflight opened pooled connections:
    a child must start with an empty pool, or two processes speak on one socket."""
    url = _sqlite(tmp_path)
    migrations.upgrade(url)
    env = {
        **os.environ,
        "REFLEX_DB_URL": url,
        "CONNECTIONS_DATA_DIR": str(tmp_path / "data"),
        "CONNECTIONS_MASTER_KEY": generate_master_key(),
        "REFLEX_TELEMETRY_ENABLED": "false",
    }
    result = subprocess.run(
        [sys.executable, "-c", _FORK_PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    parent_pooled, child_status = map(int, result.stdout.split()[-2:])
    assert parent_pooled >= 1  # the preflight left a connection in the pool...
    assert child_status == 0  # ...which the forked child does not inherit
