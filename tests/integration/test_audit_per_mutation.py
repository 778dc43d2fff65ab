"""Invariant 7: each mutation writes exactly one audit event in its own transaction,
and a refused mutation writes nothing at all (no event, no partial row)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core import audit, egress
from connections_app.core.audit import AuditEvent
from connections_app.core.connections import runtime, service
from connections_app.core.connections.models import Connection, ConnectionSecret
from connections_app.core.errors import Conflict, Invalid
from connections_app.core.identity import service as identity
from connections_app.core.identity.models import User
from connections_app.core.vault import Vault
from tests.conftest import PASSWORD, World
from tests.integration.helpers import STRIPE_KEY, make_stripe
from tests.standin_fixtures import StandIn


def _counts(db: Session) -> tuple[int, int, int]:
    return (
        db.exec(select(func.count()).select_from(AuditEvent)).one(),
        db.exec(select(func.count()).select_from(Connection)).one(),
        db.exec(select(func.count()).select_from(ConnectionSecret)).one(),
    )


def _events_added(engine: Engine, call: Callable[[Session], Any]) -> int:
    with Session(engine, expire_on_commit=False) as db:
        before = _counts(db)[0]
        call(db)
    with Session(engine) as db:
        return _counts(db)[0] - before


def test_every_connection_mutation_writes_one_event(
    engine: Engine, world: World, standin: StandIn
) -> None:
    admin = world.actors["admin1"]
    with Session(engine, expire_on_commit=False) as db:
        conn = make_stripe(db, admin)
    mutations: dict[str, Callable[[Session], Any]] = {
        "create": lambda db: make_stripe(db, admin),
        "update": lambda db: service.update(
            db, actor=admin, connection_id=conn.id, label="Renamed", sharing="manage"
        ),
        "rotate": lambda db: service.rotate(
            db, actor=admin, connection_id=conn.id, secrets={"secret_key": STRIPE_KEY}
        ),
        "rotate-test-credentials": lambda db: service.rotate(
            db,
            actor=admin,
            connection_id=conn.id,
            purpose="test",
            secrets={"secret_key": "sk_test_SandboxOnlyKey000001"},
        ),
        "test": lambda db: service.test(db, actor=admin, connection_id=conn.id),
        "use": lambda db: runtime.send(
            db,
            actor=admin,
            connection_id=conn.id,
            client=egress.client(),
            request=httpx.Request("GET", f"{standin.url}/stripe/v1/balance"),
        ),
        "delete": lambda db: service.delete(db, actor=admin, connection_id=conn.id),
    }
    added = {name: _events_added(engine, call) for name, call in mutations.items()}
    assert added == dict.fromkeys(mutations, 1)
    with Session(engine) as db:
        actions = [
            e.action
            for e in db.exec(
                select(AuditEvent)
                .where(AuditEvent.connection_id == conn.id)
                .order_by(AuditEvent.seq)
            )
        ]
        assert actions == ["created", "updated", "rotated", "rotated", "tested", "used", "deleted"]
        assert audit.verify(db, account_id=world.account_id).ok


def test_a_no_op_update_writes_nothing(engine: Engine, world: World) -> None:
    admin = world.actors["admin1"]
    with Session(engine, expire_on_commit=False) as db:
        conn = make_stripe(db, admin)
    assert (
        _events_added(
            engine,
            lambda db: service.update(db, actor=admin, connection_id=conn.id, label=conn.label),
        )
        == 0
    )


def test_identity_mutations_write_one_event_each(
    engine: Engine, vault: Vault, world: World
) -> None:
    state: dict[str, Any] = {}

    def new_account(db: Session) -> None:
        state["account"] = identity.create_account(
            db, vault=vault, name="Audit Co", slug="audit-co", by="test"
        )

    def new_workspace(db: Session) -> None:
        state["ws"] = identity.create_workspace(
            db, vault=vault, account_id=state["account"].id, name="W", slug="w", by="test"
        )

    def new_member(db: Session) -> None:
        user = identity.create_user(db, email="auditee@example.test", name="A", password=PASSWORD)
        state["user"] = user
        identity.add_member(
            db, workspace_id=state["ws"].id, user_id=user.id, role="builder", by="test"
        )

    def sign_in(db: Session) -> None:
        user = db.get(User, state["user"].id)
        identity.start_session(db, user=user, ttl_hours=1)

    for call in (new_account, new_workspace, new_member, sign_in):
        assert _events_added(engine, call) == 1, call.__name__


BAD_CREATES: list[tuple[dict[str, Any], type[Exception]]] = [
    ({"app": "stripe", "label": "", "fields": {"secret_key": STRIPE_KEY}}, Invalid),
    ({"app": "stripe", "label": "x" * 500, "fields": {"secret_key": STRIPE_KEY}}, Invalid),
    ({"app": "stripe", "label": "Ctl\x07", "fields": {"secret_key": STRIPE_KEY}}, Invalid),
    ({"app": "stripe", "label": "Bad key", "fields": {"secret_key": "not-a-stripe-key"}}, Invalid),
    ({"app": "stripe", "label": "No key", "fields": {}}, Invalid),
    ({"app": "stripe", "label": "Wrong type", "fields": {"secret_key": 12345}}, Invalid),
    ({"app": "stripe", "label": "Extra", "fields": {"secret_key": STRIPE_KEY, "x": "y"}}, Invalid),
    ({"app": "nope", "label": "Unknown app", "fields": {}}, Invalid),
    ({"app": ["stripe"], "label": "List app", "fields": {}}, Invalid),
    (
        {
            "app": "stripe",
            "label": "Bad sharing",
            "fields": {"secret_key": STRIPE_KEY},
            "sharing": "everyone",
        },
        Invalid,
    ),
    (
        {
            "app": "stripe",
            "label": "Bad key slug",
            "fields": {"secret_key": STRIPE_KEY},
            "stable_key": "Not A Slug!",
        },
        Invalid,
    ),
    (
        {
            "app": "freshdesk",
            "label": "Bad subdomain",
            "fields": {"subdomain": "not a subdomain", "api_key": "abcdefgh1234"},
        },
        Invalid,
    ),
    ({"app": "slack", "label": "OAuth via form", "kind": "oauth2", "fields": {}}, Invalid),
]


@pytest.mark.parametrize(("kwargs", "error"), BAD_CREATES)
def test_bad_input_leaves_no_trace(
    engine: Engine, world: World, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with Session(engine) as db:
        before = _counts(db)
        with pytest.raises(error) as err:
            service.create(db, actor=world.actors["admin1"], **kwargs)
        assert STRIPE_KEY not in str(err.value)
    with Session(engine) as db:
        assert _counts(db) == before


def test_duplicate_label_and_stable_key_conflict_cleanly(engine: Engine, world: World) -> None:
    admin = world.actors["admin1"]
    with Session(engine) as db:
        make_stripe(db, admin, label="Billing")
        before = _counts(db)
        with pytest.raises(Conflict, match="already exists"):
            make_stripe(db, admin, label="billing")  # case-insensitive
        with pytest.raises(Conflict, match="stable key"):
            service.create(
                db,
                actor=admin,
                app="stripe",
                label="Billing 2",
                fields={"secret_key": STRIPE_KEY},
                stable_key="billing",
            )
        assert _counts(db) == before
        # The same label in another workspace is fine: uniqueness is per workspace.
        make_stripe(db, world.actors["admin2"], label="Billing")


def test_model_price_mutations_write_one_event_each(engine: Engine, world: World) -> None:
    from connections_app.core.metering import prices

    admin = world.actors["acct_admin"]

    def price(value: Any) -> Callable[[Session], Any]:
        return lambda db: prices.set_price(
            db,
            actor=admin,
            app="anthropic",
            model="claude-next",
            input_micros_per_mtok=value,
            output_micros_per_mtok=1,
        )

    assert _events_added(engine, price(5)) == 1
    assert _events_added(engine, price(6)) == 1  # a change
    with Session(engine) as db:
        before = _counts(db)[0]
    with pytest.raises(Invalid), Session(engine) as db:
        price(-1)(db)
    with Session(engine) as db:
        assert _counts(db)[0] == before, "bad input leaves no event"
    remove = _events_added(
        engine,
        lambda db: prices.remove_price(db, actor=admin, app="anthropic", model="claude-next"),
    )
    assert remove == 1
