"""The run step's resolve (`runtime.lookup` → `open_credential`): one scoped select on
the session's own connection, the same answers as the ORM path, no SQLite write lock,
and a resolved credential that never shows its value."""

from __future__ import annotations

import sqlite3
import threading
import time

import httpx
import pytest
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from connections_app.core.catalog import get_catalog
from connections_app.core.connections import runtime
from connections_app.core.connections import service as connections
from connections_app.core.connections.models import Purpose
from connections_app.core.db import READ_ONLY
from connections_app.core.errors import Forbidden, NotFound
from connections_app.core.vault import Vault
from tests.conftest import World

KEY = "sk_test_ResolveFastPath000000000001"


def _url() -> str:
    """Stripe's customers URL as this process's catalog has it (a stand-in may be set)."""
    return get_catalog().get("stripe").resolve_base_url({}) + "/v1/customers"


@pytest.fixture(scope="module")
def stripe_ids(engine: Engine, world: World, vault: Vault) -> dict[str, str]:
    """A shared Stripe key in the first workspace, and a builder's personal one."""
    made: dict[str, str] = {}
    with Session(engine, expire_on_commit=False) as db:
        for name, who, sharing in (
            ("shared", "admin1", "use"),
            ("personal", "builder1", "personal"),
        ):
            made[name] = connections.create(
                db,
                actor=world.actors[who],
                app="stripe",
                kind="api_key",
                label=f"Resolve {name}",
                fields={"secret_key": KEY},
                sharing=sharing,
            ).id
    return made


def _resolve(db: Session, world: World, vault: Vault, who: str, connection_id: str):  # type: ignore[no-untyped-def]
    db.connection(execution_options={READ_ONLY: True})  # as a run step opens its read
    try:
        return runtime.resolve(
            db,
            actor=world.actors[who],
            connection_id=connection_id,
            purpose=Purpose.LIVE,
            vault=vault,
        )
    finally:
        db.rollback()


def test_the_resolved_credential_goes_on_the_request_once_and_never_shows_itself(
    engine: Engine, world: World, vault: Vault, stripe_ids: dict[str, str]
) -> None:
    with Session(engine) as db:
        credential = _resolve(db, world, vault, "admin1", stripe_ids["shared"])
    assert KEY not in repr(credential) and credential.header_names == ["Authorization"]
    request = httpx.Request("POST", _url())
    credential.apply(request)
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    again = httpx.Request("POST", _url())
    credential.apply(again)  # dropped after the first request: nothing left to put on
    assert "Authorization" not in again.headers


def test_a_credential_goes_only_to_its_connections_origin(
    engine: Engine, world: World, vault: Vault, stripe_ids: dict[str, str]
) -> None:
    with Session(engine) as db:
        credential = _resolve(db, world, vault, "admin1", stripe_ids["shared"])
    request = httpx.Request("POST", "https://elsewhere.example/v1/customers")
    with pytest.raises(Exception, match="would leave"):
        credential.apply(request)
    assert "Authorization" not in request.headers


def test_invisible_is_absent_and_unusable_is_refused_as_on_the_orm_path(
    engine: Engine, world: World, vault: Vault, stripe_ids: dict[str, str]
) -> None:
    with Session(engine) as db:
        with pytest.raises(NotFound):  # another workspace
            _resolve(db, world, vault, "admin2", stripe_ids["shared"])
        with pytest.raises(NotFound):  # another builder's personal connection
            _resolve(db, world, vault, "builder1b", stripe_ids["personal"])
        with pytest.raises(Forbidden):  # a viewer sees it but may not use it
            _resolve(db, world, vault, "viewer1", stripe_ids["shared"])
        with pytest.raises(NotFound):  # not an id at all
            _resolve(db, world, vault, "admin1", "x" * 65)


def test_resolving_takes_no_sqlite_write_lock(
    engine: Engine, db_url: str, world: World, vault: Vault, stripe_ids: dict[str, str]
) -> None:
    """Another process holding the write lock does not delay a step's resolve."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's database-wide write lock")
    writer = sqlite3.connect(make_url(db_url).database or "", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        done: list[float] = []

        def resolve() -> None:
            started = time.monotonic()
            with Session(engine) as db:
                _resolve(db, world, vault, "admin1", stripe_ids["shared"])
            done.append(time.monotonic() - started)

        thread = threading.Thread(target=resolve)
        thread.start()
        thread.join(timeout=10)
        assert done and done[0] < 5, "the resolve waited for the write lock"
    finally:
        writer.execute("ROLLBACK")
        writer.close()
