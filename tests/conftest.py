"""Shared fixtures: a migrated database per module (SQLite, and PostgreSQL when
TEST_DB_URL is set), a vault with a fresh master key, and a small world of
tenants and people in every role."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from connections_app.core import migrations, redaction
from connections_app.core.db import build_engine
from connections_app.core.identity import service as identity
from connections_app.core.tenancy.actor import Actor, Role
from connections_app.core.vault import LocalMasterKey, Vault, set_vault

pytest_plugins = ["tests.conftest_postgres", "tests.standin_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct-horse-battery"


def migrate(db_url: str) -> None:
    migrations.upgrade(db_url)


@pytest.fixture(scope="module")
def engine(db_url: str) -> Iterator[Engine]:
    migrate(db_url)
    eng = build_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture(scope="module")
def master_key_bytes() -> bytes:
    return os.urandom(32)


@pytest.fixture(scope="module")
def vault(engine: Engine, master_key_bytes: bytes) -> Iterator[Vault]:
    v = Vault(LocalMasterKey(master_key_bytes))
    with Session(engine) as session:
        if v.verify(session):
            v.install_check(session)
        identity.ensure_data_keys(session, vault=v)  # the installation's key (OAuth clients)
        session.commit()
    set_vault(v)
    yield v
    set_vault(None)


@dataclass
class World:
    """Two workspaces of one account (plus a foreign account) with a person per role."""

    account_id: str
    ws1: str
    ws2: str
    other_account_id: str
    other_ws: str
    actors: dict[str, Actor]
    user_ids: dict[str, str]


def _actor(
    user_id: str,
    email: str,
    account: str,
    ws: str | None,
    role: Role | None,
    account_admin: bool = False,
) -> Actor:
    return Actor(
        user_id=user_id,
        label=email,
        account_id=account,
        workspace_id=ws,
        role=role,
        is_account_admin=account_admin,
    )


@pytest.fixture(scope="module")
def world(engine: Engine, vault: Vault) -> World:
    suffix = os.urandom(3).hex()
    with Session(engine, expire_on_commit=False) as db:
        acct = identity.create_account(
            db, vault=vault, name="Agency", slug=f"agency-{suffix}", by="test"
        )
        other = identity.create_account(
            db, vault=vault, name="Other", slug=f"other-{suffix}", by="test"
        )
        ws1 = identity.create_workspace(
            db, vault=vault, account_id=acct.id, name="Client One", slug="one", by="test"
        )
        ws2 = identity.create_workspace(
            db, vault=vault, account_id=acct.id, name="Client Two", slug="two", by="test"
        )
        ows = identity.create_workspace(
            db, vault=vault, account_id=other.id, name="Foreign", slug="foreign", by="test"
        )
        actors: dict[str, Actor] = {}
        users: dict[str, str] = {}
        plan = [
            ("acct_admin", None, None),
            ("admin1", ws1.id, Role.ADMIN),
            ("builder1", ws1.id, Role.BUILDER),
            ("builder1b", ws1.id, Role.BUILDER),
            ("viewer1", ws1.id, Role.VIEWER),
            ("client1", ws1.id, Role.CLIENT),
            ("admin2", ws2.id, Role.ADMIN),
            ("builder2", ws2.id, Role.BUILDER),
            ("viewer2", ws2.id, Role.VIEWER),
            ("foreign_admin", ows.id, Role.ADMIN),
        ]
        for name, ws_id, role in plan:
            email = f"{name}-{suffix}@example.test"
            user = identity.create_user(db, email=email, name=name.title(), password=PASSWORD)
            users[name] = user.id
            if name == "acct_admin":
                identity.make_account_admin(db, account_id=acct.id, user_id=user.id, by="test")
                actors[name] = _actor(user.id, email, acct.id, ws1.id, Role.ADMIN, True)
                continue
            assert ws_id is not None
            identity.add_member(db, workspace_id=ws_id, user_id=user.id, role=role, by="test")
            account_id = other.id if name == "foreign_admin" else acct.id
            actors[name] = _actor(user.id, email, account_id, ws_id, role)
        return World(acct.id, ws1.id, ws2.id, other.id, ows.id, actors, users)


@pytest.fixture(autouse=True)
def _fresh_redaction() -> Iterator[None]:
    yield
    redaction.forget_all()


@pytest.fixture(autouse=True)
def _restore_process_settings() -> Iterator[None]:
    """Tests that point settings or the engine elsewhere must not leak into the next test."""
    yield
    from connections_app.core.db import reset_engine
    from connections_app.core.settings import get_settings

    get_settings.cache_clear()
    reset_engine()


def pytest_sessionstart(session: pytest.Session) -> None:
    """In CI nothing may be skipped for want of a real part: PostgreSQL must be there.
    (The scaled e2e session, `E2E_STACK=scaled`, brings its own PostgreSQL: the one
    `make run-scaled` starts.)"""
    scaled = os.environ.get("E2E_STACK") == "scaled"
    if os.environ.get("CI") == "true" and not os.environ.get("TEST_DB_URL") and not scaled:
        raise pytest.UsageError(
            "CI=true but TEST_DB_URL is not set: run the tests through `make test`, "
            "which starts PostgreSQL on loopback (scripts/with-postgres.sh)."
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last.

    Playwright's sync API keeps an asyncio loop running on the main thread for as
    long as its session fixture lives; async tests scheduled after the first e2e
    test would find that loop and fail. Ordering e2e last (a stable sort) also
    gives the fast unit and integration feedback first.
    """
    items.sort(key=lambda item: "/tests/e2e/" in str(item.path).replace("\\", "/"))
