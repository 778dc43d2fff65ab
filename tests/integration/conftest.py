"""Fixtures for the refresher tests: due OAuth connections made through the real
connect flow, and real `connections-admin refresher` processes on the test database."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from connections_app.core.clock import utcnow
from connections_app.core.connections.models import Connection
from connections_app.core.vault import Vault
from tests.conftest import World
from tests.integration.oauth_helpers import (
    connect,
    finish,
    register_clients,
    session_for,
    start_refreshers,
)
from tests.standin_fixtures import StandIn

_accounts = itertools.count()


@pytest.fixture
def due_connections(engine: Engine, vault: Vault, world: World) -> Callable[[int], list[str]]:
    """Make `count` Slack connections (each its own grant at the stand-in), all due now."""

    def make(count: int) -> list[str]:
        register_clients(engine, vault, ("slack",))
        token = session_for(engine, world.user_ids["admin2"])
        ids = []
        for _ in range(count):
            outcome = connect(engine, vault, token, account=f"due-{next(_accounts)}")
            assert outcome.ok, outcome.message
            assert outcome.connection_id
            ids.append(outcome.connection_id)
        with Session(engine) as db:
            db.execute(
                update(Connection)
                .where(Connection.id.in_(ids))  # type: ignore[attr-defined]
                .values(next_refresh_at=utcnow() - timedelta(seconds=1))
            )
            db.commit()
        return ids

    return make


@dataclass
class Refreshers:
    standin: StandIn
    db_url: str
    master_key: bytes
    data_dir: Path

    def run(self, count: int, args: Sequence[str], env: dict[str, str] | None = None) -> list[str]:
        """Start `count` refresher processes; their outputs once all have exited 0."""
        procs = start_refreshers(
            count,
            standin_url=self.standin.url,
            db_url=self.db_url,
            master_key=self.master_key,
            data_dir=self.data_dir,
            args=args,
            env=env,
        )
        return finish(procs)


@pytest.fixture
def refreshers(
    standin: StandIn, db_url: str, master_key_bytes: bytes, tmp_path: Path
) -> Refreshers:
    return Refreshers(standin, db_url, master_key_bytes, tmp_path)
