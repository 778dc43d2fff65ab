"""Migration 0013: substring search on trigram indexes on PostgreSQL (pg_trgm), nothing
on SQLite, and a skip (logged) where the extension cannot be created — the search
answers the same in every case."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import insert, inspect
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from connections_app.core import migrations
from connections_app.core.clock import utcnow
from connections_app.core.connections import service
from connections_app.core.connections.models import Connection, Scope, Sharing, Status
from connections_app.core.db import build_engine
from connections_app.core.identity.models import new_id
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.tenancy.actor import Actor
from connections_app.core.workflows import service as workflows
from tests.conftest import World
from tests.conftest_postgres import TEST_DB_URL

TRGM = {"ix_connections_label_key_trgm", "ix_connections_stable_key_trgm"}
LABELS = [f"Client {n:05d} {'north' if n % 97 == 0 else 'south'}" for n in range(6000)]


def _row(actor: Actor, label: str) -> dict[str, Any]:
    """A connection row without secrets: the picker reads nothing else."""
    now = utcnow()
    return {
        "id": new_id(),
        "account_id": actor.account_id,
        "workspace_id": actor.workspace_id,
        "tenant_id": actor.workspace_id,
        "scope": Scope.WORKSPACE.value,
        "app": "stripe",
        "label": label,
        "label_key": service.label_key(label),
        "stable_key": service.suggest_stable_key(label)[:80],
        "kind": "api_key",
        "status": Status.ACTIVE.value,
        "sharing": Sharing.USE.value,
        "config": {},
        "masked_tail": "0042",
        "secret_version": 1,
        "has_test_credentials": False,
        "embedded_enabled": False,
        "created_by": actor.user_id,
        "created_at": now,
        "updated_at": now,
        "use_count": 0,
        "token_version": 0,
        "refresh_failures": 0,
    }


@pytest.fixture(scope="module")
def picker_node(engine: Engine, world: World) -> str:
    """6,000 Stripe connections in the first workspace and a Stripe node to pick for."""
    admin = world.actors["admin1"]
    with Session(engine, expire_on_commit=False) as db:
        rows = [_row(admin, label) for label in LABELS]
        for start in range(0, len(rows), 1000):
            db.execute(insert(Connection), rows[start : start + 1000])
        wf = workflows.create_workflow(db, actor=admin, name=f"Trigram {uuid.uuid4().hex[:6]}")
        customer = {"app": "stripe", "action": "create_customer", "params": {"email": "a@b.test"}}
        node = workflows.add_node(db, actor=admin, workflow_id=wf.id, **customer)
        db.commit()
    if engine.dialect.name == "postgresql":
        # What autovacuum does within a minute: statistics, and the GIN pending list
        # (rows inserted after the index was made) merged into the index.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE connections")
    return node.id


def _indexes(engine: Engine) -> set[str]:
    return {i["name"] for i in inspect(engine).get_indexes("connections")}


def _labels_found(engine: Engine, world: World, node_id: str, search: str) -> list[str]:
    found: list[str] = []
    with Session(engine) as db:
        page = 1
        while True:
            result = workflows.picker(
                db, actor=world.actors["admin1"], node_id=node_id, search=search, page=page
            )
            found += [v.label for v in result.items]
            if not result.following:
                return found
            page += 1


def test_the_trigram_indexes_exist_on_postgresql_only(engine: Engine) -> None:
    present = _indexes(engine) & TRGM
    assert present == (TRGM if engine.dialect.name == "postgresql" else set())


@pytest.mark.parametrize("search", ["north", "00097", "nobody", "client 0599"])
def test_substring_search_finds_exactly_the_matching_labels(
    engine: Engine, world: World, picker_node: str, search: str
) -> None:
    expected = sorted(
        (label for label in LABELS if search in label.casefold()), key=service.label_key
    )
    assert _labels_found(engine, world, picker_node, search) == expected


def test_postgresql_answers_a_rare_substring_from_the_trigram_index(
    engine: Engine, world: World, picker_node: str
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("pg_trgm is PostgreSQL's")
    admin = world.actors["admin1"]
    own = connection_scope.usable_connection_sources(admin, app="stripe")[0]
    stmt = (
        Connection.__table__.select()
        .with_only_columns(Connection.label_key, Connection.id)  # type: ignore[arg-type]
        .where(own, Connection.label_key.like("%00097 north%"))  # type: ignore[attr-defined]
        .order_by(Connection.label_key, Connection.id)  # type: ignore[arg-type]
        .limit(21)
    )
    sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))
    assert "ix_connections_label_key_trgm" in plan, plan


@pytest.mark.postgres
@pytest.mark.skipif(not TEST_DB_URL, reason="TEST_DB_URL not set")
def test_without_the_right_to_create_the_extension_the_migration_skips_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A role that may not create extensions: the schema is still migrated to the head
    and one line says why there is no trigram index (the search then runs on LIKE
    alone, as on SQLite above)."""
    server = make_url(TEST_DB_URL)
    admin_dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    suffix = uuid.uuid4().hex[:10]
    name, role, password = f"t_{suffix}", f"r_{suffix}", uuid.uuid4().hex
    with psycopg.connect(admin_dsn, autocommit=True) as pg:
        pg.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER PASSWORD '{password}'")
        pg.execute(f'CREATE DATABASE "{name}"')
    database = server.set(database=name)
    with psycopg.connect(
        database.set(drivername="postgresql").render_as_string(hide_password=False),
        autocommit=True,
    ) as pg:
        pg.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}")
    url = database.set(username=role, password=password).render_as_string(hide_password=False)
    engine = build_engine(url)
    try:
        with caplog.at_level(logging.WARNING):
            migrations.upgrade(url)
        assert "pg_trgm could not be created" in caplog.text
        assert migrations.current_revision(engine) == migrations.head_revision(url)
        assert not _indexes(engine) & TRGM
    finally:
        engine.dispose()
        with psycopg.connect(admin_dsn, autocommit=True) as pg:
            pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            pg.execute(f"DROP ROLE IF EXISTS {role}")
