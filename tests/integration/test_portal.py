"""The client portal (F24): what a client is shown (its own connections, the names of the
workflows using them, its own activity), what it may do (Reconnect / Rotate / Revoke
and nothing else), who is refused (everyone who is not that client), and the page
access rule that keeps non-clients out of /portal and clients inside it."""

from __future__ import annotations

import asyncio
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import MetaData, func
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core import portal
from connections_app.core.audit import Action, AuditEvent
from connections_app.core.connections import service as connections
from connections_app.core.connections import tokens
from connections_app.core.connections.models import Connection, ConnectionSecret
from connections_app.core.errors import Forbidden, Invalid, NotFound
from connections_app.core.identity import service as identity
from connections_app.core.tenancy import portal as portal_scope
from connections_app.core.tenancy.actor import Actor, Role
from connections_app.core.vault import Vault
from connections_app.core.workflows import runs
from connections_app.standin.app import DEMO_CREDENTIALS
from connections_app.ui.states.connection_details import RotateState
from connections_app.ui.states.core_call import call_as
from connections_app.ui.states.oauth_connect import OAuthConnectState
from connections_app.ui.states.portal import PortalActivityState, PortalState
from tests.conftest import PASSWORD, World
from tests.integration import test_ui_handlers
from tests.integration.helpers import make_stripe, workflow_with_node
from tests.integration.oauth_helpers import connect, register_clients, session_for
from tests.integration.test_ui_handlers import Cookie, _sign_in, _state
from tests.standin_fixtures import StandIn

STRIPE_LIVE = DEMO_CREDENTIALS["stripe"]["secret_key"]
as_browser = test_ui_handlers.as_browser  # the handler tests' fixture: a browser's session
NON_CLIENTS = ["acct_admin", "admin1", "builder1", "viewer1", "admin2", "foreign_admin"]


@dataclass
class Portal:
    """client1's two connections (an API key and a sign-in), the workflow using them,
    an agency connection beside them, and three more clients: another of ws1, one of
    ws2 and one of the foreign account."""

    stripe_id: str
    slack_id: str
    agency_id: str
    workflow: str
    others: dict[str, Actor]


def _authorized_by(engine: Engine, conn_id: str, user_id: str) -> None:
    """What a connect link will do; set here while links do not exist yet."""
    with Session(engine) as s:
        row = s.get(Connection, conn_id)
        assert row is not None
        row.authorized_by = user_id
        s.add(row)
        s.commit()


def _client(db: Session, world: World, name: str, workspace_id: str, account_id: str) -> Actor:
    email = f"{name}-{os.urandom(3).hex()}@example.test"
    user = identity.create_user(db, email=email, name=name.title(), password=PASSWORD)
    identity.add_member(db, workspace_id=workspace_id, user_id=user.id, role=Role.CLIENT, by="t")
    world.user_ids[name] = user.id
    return Actor(user.id, email, account_id, workspace_id, Role.CLIENT)


@pytest.fixture(scope="module")
def setup(engine: Engine, vault: Vault, world: World, standin: StandIn) -> Portal:
    register_clients(engine, vault, ("slack",))
    admin = world.actors["admin1"]
    with Session(engine, expire_on_commit=False) as db:
        stripe = make_stripe(db, admin, key=STRIPE_LIVE, label="Cleo's Stripe")
        agency = make_stripe(db, admin, key=STRIPE_LIVE, label="Agency Stripe")
    slack = connect(engine, vault, session_for(engine, world.user_ids["admin1"]), account="cleo")
    assert slack.ok and slack.connection_id
    client = world.user_ids["client1"]
    _authorized_by(engine, stripe.id, client)
    _authorized_by(engine, slack.connection_id, client)
    with Session(engine, expire_on_commit=False) as db:
        wf, _ = workflow_with_node(
            db, admin, "Nightly invoices", stripe.id, {"email": "n@example.test"}
        )
        workflow_with_node(
            db,
            admin,
            "Team digest",
            slack.connection_id,
            {"channel": "#ops", "text": "hi"},
            app="slack",
            action="post_message",
        )
        workflow_with_node(db, admin, "Agency only", agency.id, {"email": "a@example.test"})
        others = {
            "client1b": _client(db, world, "client1b", world.ws1, world.account_id),
            "client2": _client(db, world, "client2", world.ws2, world.account_id),
            "foreign_client": _client(
                db, world, "foreign_client", world.other_ws, world.other_account_id
            ),
        }
        db.commit()
    return Portal(stripe.id, slack.connection_id, agency.id, wf.id, others)


def _everyone(world: World, setup: Portal) -> dict[str, Actor]:
    return {**world.actors, **setup.others}


# --- what the client is shown -----------------------------------------------------------


def test_the_portal_lists_what_the_client_authorized_with_the_workflows_using_it(
    db: Session, world: World, setup: Portal
) -> None:
    page = portal.my_connections(db, actor=world.actors["client1"])
    by_id = {i.connection.id: i for i in page.items}
    assert set(by_id) == {setup.stripe_id, setup.slack_id}
    assert page.total == 2
    assert by_id[setup.stripe_id].workflows == ["Nightly invoices"]
    assert by_id[setup.slack_id].workflows == ["Team digest"]
    for item in page.items:
        assert item.connection.config is None  # no configuration, ever
    # Another client of the same workspace, and clients elsewhere, see none of it.
    for name, actor in setup.others.items():
        assert portal.my_connections(db, actor=actor).items == [], name


def test_a_client_gets_reconnect_rotate_and_revoke_and_nothing_else(
    db: Session, world: World, setup: Portal
) -> None:
    items = {
        i.connection.id: i.connection.actions
        for i in portal.my_connections(db, actor=world.actors["client1"]).items
    }
    stripe, slack = items[setup.stripe_id], items[setup.slack_id]
    assert stripe.rotate and stripe.revoke and not stripe.reconnect
    assert slack.reconnect and slack.revoke and not slack.rotate
    for actions in (stripe, slack):
        assert not any(
            [
                actions.see_settings,
                actions.see_history,
                actions.test,
                actions.edit,
                actions.refresh,
                actions.delete,
                actions.set_test_credentials,
            ]
        )


def test_workflow_names_are_answered_only_for_connections_the_actor_can_see(
    db: Session, world: World, setup: Portal
) -> None:
    ids = [setup.stripe_id, setup.slack_id, setup.agency_id, "x" * 65, "nope"]
    assert set(portal_scope.workflow_names_using(db, world.actors["client1"], ids)) == {
        setup.stripe_id,
        setup.slack_id,
    }
    for name, actor in setup.others.items():
        assert portal_scope.workflow_names_using(db, actor, ids) == {}, name
    assert portal_scope.workflow_names_using(db, world.actors["admin2"], ids) == {}


def test_everyone_who_is_not_a_client_is_refused_and_the_refusal_recorded(
    engine: Engine, db: Session, world: World, setup: Portal
) -> None:
    for name in NON_CLIENTS:
        actor = world.actors[name]
        for call in (
            lambda a=actor: portal.my_connections(db, actor=a),
            lambda a=actor: portal.my_activity(db, actor=a),
            lambda a=actor: connections.list_connections(db, actor=a, authorized_by_me=True),
        ):
            with pytest.raises(Forbidden, match="portal is for client users"):
                call()
        db.rollback()
    with Session(engine) as s:
        denied = s.exec(
            select(AuditEvent).where(
                AuditEvent.actor_id == world.user_ids["viewer1"],
                AuditEvent.action == str(Action.ACCESS_DENIED),
            )
        ).all()
    assert any(e.detail.get("what") == "open the client portal" for e in denied)


def test_authorized_by_names_the_client_in_the_agencys_lists_and_details(
    engine: Engine, vault: Vault, db: Session, world: World, setup: Portal, standin: StandIn
) -> None:
    admin = world.actors["admin1"]
    listed = {v.id: v for v in connections.list_connections(db, actor=admin, page_size=100).items}
    assert listed[setup.stripe_id].authorized_by_name == "Client1"
    assert listed[setup.slack_id].authorized_by_name == "Client1"
    assert listed[setup.agency_id].authorized_by_name == ""
    view = connections.get(db, actor=admin, connection_id=setup.slack_id)
    assert view.authorized_by_name == "Client1"
    # An agency person's own sign-in carries authorized_by too, but is not "by a client".
    db.rollback()  # SQLite: end this session's read before the flow writes
    mine = connect(engine, vault, session_for(engine, world.user_ids["admin1"]), account="self")
    assert mine.connection_id
    own = connections.get(db, actor=admin, connection_id=mine.connection_id)
    assert own.authorized_by_name == ""


# --- what the client may do -------------------------------------------------------------


def test_the_client_rotates_its_key_but_not_its_test_credential(
    db: Session, world: World, setup: Portal
) -> None:
    client = world.actors["client1"]
    view = connections.rotate(
        db, actor=client, connection_id=setup.stripe_id, secrets={"secret_key": STRIPE_LIVE}
    )
    assert view.masked_tail == STRIPE_LIVE[-4:]
    with pytest.raises(Forbidden):
        connections.rotate(
            db,
            actor=client,
            connection_id=setup.stripe_id,
            secrets={"secret_key": STRIPE_LIVE},
            purpose="test",
        )
    db.rollback()
    for call in (
        lambda: connections.update(db, actor=client, connection_id=setup.stripe_id, label="x"),
        lambda: connections.delete(db, actor=client, connection_id=setup.stripe_id),
        lambda: connections.test(db, actor=client, connection_id=setup.stripe_id),
    ):
        with pytest.raises(Forbidden):
            call()
        db.rollback()


def test_the_clients_activity_is_its_own_events_newest_first_in_words(
    db: Session, world: World, setup: Portal
) -> None:
    client = world.actors["client1"]
    connections.rotate(
        db, actor=client, connection_id=setup.stripe_id, secrets={"secret_key": STRIPE_LIVE}
    )
    page = portal.my_activity(db, actor=client, page_size=5)
    assert page.items and page.items[0].action_label == "Credential rotated"
    assert page.items[0].target == "Cleo's Stripe"
    assert all(e.actor == client.label for e in page.items)
    times = [e.at for e in page.items]
    assert times == sorted(times, reverse=True)
    # The admin created the connections and workflows: none of that is the client's.
    assert not any(e.action_label in ("Created", "Workflow created") for e in page.items)
    assert portal.my_activity(db, actor=setup.others["client1b"]).items == []
    with pytest.raises(Invalid):
        portal.my_activity(db, actor=client, page=0)


def test_reconnect_by_the_client_keeps_it_authorized_by_the_client(
    engine: Engine, vault: Vault, world: World, setup: Portal, standin: StandIn
) -> None:
    tokens_before = _row(engine, setup.slack_id)
    with Session(engine) as s:
        tokens.mark_needs_reauthorization(s, setup.slack_id, "test: refused")
    with Session(engine, expire_on_commit=False) as db:
        broken = connections.needing_reauthorization(db, actor=world.actors["client1"])
        assert [v.id for v in broken] == [setup.slack_id]  # the client's banner
        assert connections.needing_reauthorization(db, actor=setup.others["client1b"]) == []
    token = session_for(engine, world.user_ids["client1"])
    again = connect(engine, vault, token, account="cleo", target=setup.slack_id)
    assert again.ok, again.message
    after = _row(engine, setup.slack_id)
    assert after.status == "active"
    assert after.authorized_by == world.user_ids["client1"] == tokens_before.authorized_by
    # Someone else's client may not reconnect it (the connection is invisible to them).
    other = session_for(engine, world.user_ids["client1b"])
    with pytest.raises(NotFound):
        connect(engine, vault, other, account="cleo", target=setup.slack_id)


def _row(engine: Engine, conn_id: str) -> Connection:
    with Session(engine, expire_on_commit=False) as s:
        row = s.get(Connection, conn_id)
        assert row is not None
        return row


def test_hostile_portal_actions_change_nothing(
    engine: Engine, vault: Vault, world: World, setup: Portal, standin: StandIn
) -> None:
    """Every other person, and the other clients, aimed at client1's connections: not
    found or refused, and the database is as it was (the refusals' audit rows aside)."""
    before = _snapshot(engine)
    for name, actor in _everyone(world, setup).items():
        if name in ("client1", "admin1", "acct_admin"):
            continue  # the client itself, and the admins who manage the workspace
        for conn_id in (setup.stripe_id, setup.slack_id):
            for call in _mutations(actor, conn_id, vault):
                with (
                    Session(engine, expire_on_commit=False) as db,
                    pytest.raises((NotFound, Forbidden, Invalid)),
                ):
                    call(db)
    assert _snapshot(engine) == before


def _mutations(actor: Actor, conn_id: str, vault: Vault) -> list[Callable[[Session], object]]:
    return [
        lambda db: connections.rotate(
            db, actor=actor, connection_id=conn_id, secrets={"secret_key": "sk_test_Hostile000001"}
        ),
        lambda db: tokens.revoke(db, actor=actor, connection_id=conn_id, vault=vault),
        lambda db: connections.update(db, actor=actor, connection_id=conn_id, label="Taken"),
        lambda db: connections.delete(db, actor=actor, connection_id=conn_id),
    ]


def _snapshot(engine: Engine) -> tuple:
    """Every row of the connections, their sealed secrets, grants and workflow nodes, and
    the audit events other than the refusals (recorded on purpose)."""
    meta = MetaData()
    meta.reflect(bind=engine)
    tables = ("connections", "connection_secrets", "grants", "workflow_nodes")
    with engine.connect() as conn:
        rows = tuple(
            sorted(tuple(str(v) for v in row) for row in conn.execute(sa_select(meta.tables[t])))
            for t in tables
        )
    with Session(engine) as db:
        events = db.exec(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action != str(Action.ACCESS_DENIED))
        ).one()
    return (*rows, events)


def test_the_clients_revoke_fails_the_workflows_using_it_clearly(
    engine: Engine, vault: Vault, world: World, setup: Portal, standin: StandIn
) -> None:
    admin, client = world.actors["admin1"], world.actors["client1"]
    with Session(engine, expire_on_commit=False) as db:
        run_id = runs.start(db, actor=admin, workflow_id=_workflow_of(db, admin, setup.slack_id))
        db.commit()
        tokens.revoke(db, actor=client, connection_id=setup.slack_id, vault=vault)
    assert _row(engine, setup.slack_id).status == "revoked"
    with Session(engine, expire_on_commit=False) as s:
        runs.execute(s, run_id)
    with Session(engine, expire_on_commit=False) as db:
        view = runs.get(db, actor=admin, run_id=run_id)
        assert view.status == "failed"
        assert "revoked" in (view.steps[0].message or "")
        # A new run is refused up front, naming why.
        with pytest.raises(Invalid, match="revoked"):
            runs.start(db, actor=admin, workflow_id=_workflow_of(db, admin, setup.slack_id))
        listed = portal.my_connections(db, actor=client).items
        revoked = next(i.connection for i in listed if i.connection.id == setup.slack_id)
        assert revoked.status == "revoked" and not revoked.actions.revoke


def test_a_client_withdraws_an_api_key_it_entered(
    engine: Engine, vault: Vault, world: World, standin: StandIn
) -> None:
    """Revoke is not only for sign-ins (F24): the key the client entered is destroyed
    here, the row stays (history, the nodes naming it), runs fail clearly, and nothing
    but a new connection brings it back."""
    admin, client = world.actors["admin1"], world.actors["client1"]
    with Session(engine, expire_on_commit=False) as db:
        stripe = make_stripe(db, admin, key=STRIPE_LIVE, label="Withdrawn Stripe")
    _authorized_by(engine, stripe.id, world.user_ids["client1"])
    with Session(engine, expire_on_commit=False) as db:
        workflow, _ = workflow_with_node(
            db, admin, "Withdrawn invoices", stripe.id, {"email": "w@example.test"}
        )
        consequence = tokens.revoke_consequence("api_key", "Stripe")
        assert "valid at Stripe until you revoke it there" in consequence
        done = tokens.revoke(db, actor=client, connection_id=stripe.id, vault=vault)
    assert not done.provider_confirmed and "revoke it at Stripe too" in done.message
    row = _row(engine, stripe.id)
    assert row.status == "revoked" and row.status_reason == f"Revoked by {client.label}"
    with Session(engine) as db:
        left = db.exec(
            sa_select(func.count())
            .select_from(ConnectionSecret)
            .where(ConnectionSecret.connection_id == stripe.id)
        ).one()
        assert left == (0,)
        event = db.exec(
            select(AuditEvent).where(
                AuditEvent.target_id == stripe.id, AuditEvent.action == str(Action.REVOKED)
            )
        ).one()
        assert event.actor_id == client.user_id and event.detail["kind"] == "api_key"
    with Session(engine, expire_on_commit=False) as db:
        with pytest.raises(Invalid, match="revoked"):
            runs.start(db, actor=admin, workflow_id=workflow.id)
        with pytest.raises(Invalid, match="revoked"):
            connections.rotate(
                db, actor=client, connection_id=stripe.id, secrets={"secret_key": STRIPE_LIVE}
            )
        with pytest.raises(Invalid, match="already revoked"):
            tokens.revoke(db, actor=client, connection_id=stripe.id, vault=vault)


def _workflow_of(db: Session, actor: Actor, conn_id: str) -> str:
    usages = connections.usages(db, actor=actor, connection_id=conn_id)
    return usages[0].workflow_id


# --- the page access rule ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("is_client", "path", "goes_to"),
    [
        (True, "/portal/connections", None),
        (True, "/portal/workflows", None),
        (True, "/integrations", "/portal/connections"),
        (True, "/audit", "/portal/connections"),
        (True, "/portalx", "/portal/connections"),
        (False, "/integrations", None),
        (False, "/builder", None),
        (False, "/portal/connections", "/integrations"),
        (False, "/portal", "/integrations"),
        (False, "/portal/workflows", "/integrations"),
    ],
)
def test_who_may_open_which_page(is_client: bool, path: str, goes_to: str | None) -> None:
    actor = Actor("u", "u@example.test", "a", "w", Role.CLIENT if is_client else Role.VIEWER)
    assert identity.page_for(actor, path) == goes_to


async def _portal_of(browser: type[Cookie], engine: Engine, user_id: str) -> PortalState:
    """The portal's state as this person's browser loads it."""
    browser.value = _sign_in(engine, user_id)
    state = await _state(PortalState)
    await state.load()
    return state  # type: ignore[return-value]


@pytest.mark.parametrize("who", NON_CLIENTS)
async def test_a_non_client_opening_the_portal_is_redirected_and_gets_no_list(
    as_browser: type[Cookie], engine: Engine, world: World, setup: Portal, who: str
) -> None:
    state = await _portal_of(as_browser, engine, world.user_ids[who])
    assert state.rows == [] and state.total == 0
    assert "client users" in state.error
    activity = await _state(PortalActivityState)
    await activity.load()
    assert activity.items == [] and activity.total == 0


async def test_the_client_portal_state_holds_its_rows_and_no_secret(
    as_browser: type[Cookie], engine: Engine, world: World, setup: Portal
) -> None:
    state = await _portal_of(as_browser, engine, world.user_ids["client1"])
    assert {r.id for r in state.rows} >= {setup.stripe_id}
    stripe = next(r for r in state.rows if r.id == setup.stripe_id)
    assert stripe.workflows == "Nightly invoices" and stripe.actions.rotate
    assert state.error == ""
    root = state
    while root.parent_state is not None:
        root = root.parent_state
    assert STRIPE_LIVE.encode() not in pickle.dumps(root)


async def test_portal_actions_through_the_handlers_refuse_everyone_else(
    as_browser: type[Cookie], engine: Engine, vault: Vault, world: World, setup: Portal
) -> None:
    """The dialogs the portal opens (Rotate, Revoke) with client1's ids, from every other
    person's browser: no dialog opens and nothing changes."""
    names = [n for n in [*NON_CLIENTS, *setup.others] if n not in ("admin1", "acct_admin")]
    sessions = {name: _sign_in(engine, world.user_ids[name]) for name in names}
    before = _snapshot(engine)
    for name in names:
        as_browser.value = sessions[name]
        rotate, revoke = await _state(RotateState), await _state(OAuthConnectState)
        await rotate.show(setup.stripe_id)
        await revoke.ask_revoke(setup.slack_id)
        assert rotate.open is False and revoke.revoke_open is False, name
        answer = await asyncio.to_thread(
            call_as,
            identity.session_ref(as_browser.value),
            lambda db, actor: connections.rotate(
                db,
                actor=actor,
                connection_id=setup.stripe_id,
                secrets={"secret_key": "sk_test_Hostile000002"},
            ),
        )
        assert not answer.ok, name
    assert _snapshot(engine) == before
