"""Invariant 6 under real concurrency: two refresher processes against PostgreSQL,
200 OAuth connections due at once, a provider with rotating refresh tokens and
reuse detection. Every connection must be refreshed exactly once and the provider
must never have seen a spent refresh token (which would have killed the grant)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.clock import utcnow
from connections_app.core.connections.models import Connection
from connections_app.core.vault import Vault
from connections_app.standin.overrides import catalog_env
from tests.conftest import World
from tests.integration.oauth_helpers import connect, register_clients, session_for
from tests.standin_fixtures import StandIn

COUNT = 200


def test_two_refresher_processes_refresh_each_connection_exactly_once(
    engine: Engine,
    vault: Vault,
    world: World,
    standin: StandIn,
    db_url: str,
    master_key_bytes: bytes,
    tmp_path: Path,
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the multi-process claim is checked on PostgreSQL")
    register_clients(engine, vault, ("slack",))
    token = session_for(engine, world.user_ids["admin2"])
    ids = []
    for n in range(COUNT):
        outcome = connect(engine, vault, token, account=f"bulk-{n}")
        assert outcome.ok, outcome.message
        ids.append(outcome.connection_id)
    with Session(engine) as db:
        db.execute(
            update(Connection)
            .where(Connection.id.in_(ids))  # type: ignore[attr-defined]
            .values(next_refresh_at=utcnow() - timedelta(seconds=1))
        )
        db.commit()
    before = standin.control("GET", "/oauth/ledger").json()

    env = {
        **os.environ,
        **catalog_env(standin.url),
        "REFLEX_DB_URL": db_url,
        "CONNECTIONS_MASTER_KEY": base64.urlsafe_b64encode(master_key_bytes).decode(),
        "CONNECTIONS_DATA_DIR": str(tmp_path),
    }
    exe = str(Path(sys.executable).parent / "connections-admin")
    procs = [
        subprocess.Popen(
            [exe, "refresher", "--until-idle", "--interval", "0.05"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err

    ledger = standin.control("GET", "/oauth/ledger").json()
    assert ledger["reuse_detected"] == before["reuse_detected"] == 0
    assert ledger["invalid_grant_answers"] == 0
    assert ledger["refreshes"] - before["refreshes"] == COUNT
    assert sorted(set(ledger["refreshes_by_grant"].values())) == [1]
    with Session(engine) as db:
        rows = db.exec(select(Connection).where(Connection.id.in_(ids))).all()  # type: ignore[attr-defined]
    assert {r.status for r in rows} == {"active"}
    assert {r.token_version for r in rows} == {2}, "connected once, refreshed once"
    assert all(r.next_refresh_at and r.next_refresh_at > utcnow() for r in rows)
    assert all(r.refresh_lease_owner is None for r in rows)
    both_worked = [out for out, _ in outputs if '"refreshed"' in out]
    assert len(both_worked) >= 1
