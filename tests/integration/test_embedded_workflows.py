"""F32: "Use for embedded workflows" and the workflows clients build in their portal.

Expectations are written out by hand (not computed from the policy table): who may
flip the switch, which connections a client's node may use, which workflows and runs
each person reaches. Refusals change nothing (the switch's column, the audit chain).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.audit import Action, AuditEvent
from connections_app.core.connections import embedded, service
from connections_app.core.connections.models import Connection
from connections_app.core.errors import Conflict, Forbidden, Invalid, NotFound
from connections_app.core.identity import service as identity
from connections_app.core.tenancy.actor import Actor, Role
from connections_app.core.workflows import runs, transfer
from connections_app.core.workflows import service as workflows
from connections_app.core.workflows.models import Run
from connections_app.standin.app import DEMO_CREDENTIALS
from tests.conftest import PASSWORD, World
from tests.integration.helpers import make_stripe, workflow_with_node
from tests.integration.test_role_matrix import _outcome as _member_outcome
from tests.standin_fixtures import StandIn

OK, DENY, MISSING, INVALID = "ok", "forbidden", "not_found", "invalid"
STRIPE = DEMO_CREDENTIALS["stripe"]["secret_key"]
_n = iter(range(100_000))


@dataclass(frozen=True)
class Clients:
    """client1 (from the world), a second client of workspace 1, a client of workspace 2."""

    one: Actor
    other: Actor
    elsewhere: Actor


@pytest.fixture(scope="module")
def clients(engine: Engine, world: World) -> Clients:
    suffix = os.urandom(3).hex()
    made: dict[str, Actor] = {}
    with Session(engine, expire_on_commit=False) as db:
        for name, ws in (("client1b", world.ws1), ("client2", world.ws2)):
            email = f"{name}-{suffix}@example.test"
            user = identity.create_user(db, email=email, name=name, password=PASSWORD)
            identity.add_member(db, workspace_id=ws, user_id=user.id, role=Role.CLIENT, by="t")
            made[name] = Actor(user.id, email, world.account_id, ws, Role.CLIENT)
        db.commit()
    return Clients(world.actors["client1"], made["client1b"], made["client2"])


def _outcome(call: Callable[[], Any]) -> str:
    """The role matrix's outcomes, and bad input."""
    try:
        return _member_outcome(call)
    except Invalid:
        return INVALID


def _stripe(engine: Engine, actor: Actor, sharing: str = "use", **extra: Any) -> str:
    with Session(engine, expire_on_commit=False) as db:
        view = make_stripe(db, actor, key=STRIPE, sharing=sharing)
        if extra:
            row = db.get(Connection, view.id)
            assert row is not None
            for key, value in extra.items():
                setattr(row, key, value)
            db.add(row)
            db.commit()
        return view.id


def _embedded_flag(engine: Engine, conn_id: str) -> bool:
    with Session(engine) as db:
        row = db.get(Connection, conn_id)
        assert row is not None
        return row.embedded_enabled


def _events(engine: Engine, conn_id: str) -> list[str]:
    with Session(engine) as db:
        return list(
            db.exec(
                select(AuditEvent.action).where(
                    AuditEvent.connection_id == conn_id,
                    AuditEvent.action.in_(  # type: ignore[attr-defined]
                        [Action.EMBEDDED_EXPOSED, Action.EMBEDDED_WITHDRAWN]
                    ),
                )
            ).all()
        )


def _toggle(engine: Engine, actor: Actor, conn_id: str, on: bool = True) -> str:
    with Session(engine, expire_on_commit=False) as db:
        return _outcome(
            lambda: embedded.set_embedded(db, actor=actor, connection_id=conn_id, enabled=on)
        )


# --- the switch: manage level, workspace connections only, audited ------------------


def test_the_switch_needs_manage_level_on_a_workspace_connection(
    engine: Engine, world: World, clients: Clients
) -> None:
    a = world.actors
    # (owner, sharing) of the target → who gets what. Written by hand.
    cases: list[tuple[str, str, dict[str, str]]] = [
        (
            "admin1",
            "use",
            {
                "acct_admin": OK,
                "admin1": OK,
                "builder1": DENY,
                "viewer1": DENY,
                "client1": MISSING,
                "admin2": MISSING,
                "builder2": MISSING,
                "foreign_admin": MISSING,
            },
        ),
        ("admin1", "view", {"builder1": DENY, "viewer1": DENY, "client1": MISSING}),
        ("admin1", "manage", {"builder1": OK, "viewer1": DENY, "client1": MISSING}),
        # someone's personal connection: only its creator exposes it
        ("builder1", "personal", {"builder1": OK, "admin1": DENY, "builder1b": MISSING}),
    ]
    mismatches = []
    for owner, sharing, expected in cases:
        for who, want in expected.items():
            conn_id = _stripe(engine, a[owner], sharing)
            got = _toggle(engine, a[who], conn_id)
            flag, events = _embedded_flag(engine, conn_id), _events(engine, conn_id)
            if got != want:
                mismatches.append(f"{owner}/{sharing} by {who}: expected {want}, got {got}")
            if want == OK and (not flag or events != [Action.EMBEDDED_EXPOSED]):
                mismatches.append(f"{owner}/{sharing} by {who}: not exposed and audited")
            if want != OK and (flag or events):
                mismatches.append(f"{owner}/{sharing} by {who}: changed although refused")
    assert mismatches == []


def test_a_client_may_not_flip_the_switch_even_on_what_it_authorized(
    engine: Engine, world: World, clients: Clients
) -> None:
    own = _stripe(engine, world.actors["admin1"], authorized_by=clients.one.user_id)
    assert _toggle(engine, clients.one, own) == DENY
    assert _embedded_flag(engine, own) is False and _events(engine, own) == []


def test_account_connections_are_refused_with_a_clear_message(engine: Engine, world: World) -> None:
    acct_admin = world.actors["acct_admin"]
    with Session(engine, expire_on_commit=False) as db:
        made = {"label": f"Account Stripe {next(_n)}", "fields": {"secret_key": STRIPE}}
        conn = service.create(db, actor=acct_admin, app="stripe", scope="account", **made)
    with Session(engine, expire_on_commit=False) as db, pytest.raises(Invalid) as err:
        embedded.set_embedded(db, actor=acct_admin, connection_id=conn.id, enabled=True)
    assert "Only workspace connections" in str(err.value)
    assert _embedded_flag(engine, conn.id) is False


def test_withdrawing_is_audited_and_bad_input_changes_nothing(engine: Engine, world: World) -> None:
    admin1 = world.actors["admin1"]
    conn_id = _stripe(engine, admin1)
    for hostile in (None, "yes", 1, [True], {"on": True}):
        with Session(engine) as db, pytest.raises(Invalid):
            embedded.set_embedded(db, actor=admin1, connection_id=conn_id, enabled=hostile)
    for hostile_id in (None, 7, "", "x" * 5000, ["a"]):
        assert _outcome(lambda i=hostile_id: _set(engine, admin1, i, True)) == MISSING
    assert _events(engine, conn_id) == []
    assert _toggle(engine, admin1, conn_id, True) == OK
    assert _toggle(engine, admin1, conn_id, True) == OK  # already on: no second event
    assert _toggle(engine, admin1, conn_id, False) == OK
    assert _events(engine, conn_id) == [Action.EMBEDDED_EXPOSED, Action.EMBEDDED_WITHDRAWN]
    assert _embedded_flag(engine, conn_id) is False


def _set(engine: Engine, actor: Actor, conn_id: Any, on: bool) -> None:
    with Session(engine) as db:
        embedded.set_embedded(db, actor=actor, connection_id=conn_id, enabled=on)


# --- what a client's node may use ----------------------------------------------------


@dataclass(frozen=True)
class Stock:
    exposed: str
    hidden: str
    exposed_personal: str
    own: str
    other_clients: str
    other_workspace: str


@pytest.fixture
def stock(engine: Engine, world: World, clients: Clients) -> Stock:
    a = world.actors
    exposed = _stripe(engine, a["admin1"], "use", embedded_enabled=True)
    hidden = _stripe(engine, a["admin1"], "manage")
    exposed_personal = _stripe(engine, a["builder1"], "personal", embedded_enabled=True)
    own = _stripe(engine, a["admin1"], "use", authorized_by=clients.one.user_id)
    other_clients = _stripe(engine, a["admin1"], "use", authorized_by=clients.other.user_id)
    other_workspace = _stripe(engine, a["admin2"], "use", embedded_enabled=True)
    return Stock(exposed, hidden, exposed_personal, own, other_clients, other_workspace)


def _client_node(engine: Engine, client: Actor) -> tuple[str, str]:
    with Session(engine, expire_on_commit=False) as db:
        wf, node = workflow_with_node(
            db, client, f"Portal flow {next(_n)}", None, {"email": "c@example.test"}
        )
    return wf.id, node.id


def _offered(engine: Engine, actor: Actor, node_id: str) -> set[str]:
    """Every page of the node's picker (the module's workspace holds more than one)."""
    found: set[str] = set()
    with Session(engine) as db:
        for number in range(1, 50):
            page = workflows.picker(db, actor=actor, node_id=node_id, page=number)
            found |= {v.id for v in page.items}
            if not page.has_next:
                return found
    raise AssertionError("the picker did not end")


def test_a_client_uses_what_is_exposed_and_its_own_and_nothing_else(
    engine: Engine, world: World, clients: Clients, stock: Stock
) -> None:
    _, node_id = _client_node(engine, clients.one)
    offered = _offered(engine, clients.one, node_id)
    with Session(engine) as db:
        label = db.get(Connection, stock.exposed).label  # type: ignore[union-attr]
    mine = {stock.exposed, stock.exposed_personal, stock.own}
    assert mine <= offered
    assert not {stock.hidden, stock.other_clients, stock.other_workspace} & offered
    expected = {
        stock.exposed: OK,
        stock.exposed_personal: OK,
        stock.own: OK,
        stock.hidden: MISSING,
        stock.other_clients: MISSING,
        stock.other_workspace: MISSING,
    }
    for conn_id, want in expected.items():
        with Session(engine) as db:
            got = _outcome(
                lambda db=db, c=conn_id: workflows.set_node_connection(
                    db, actor=clients.one, node_id=node_id, connection_id=c
                )
            )
        assert got == want, conn_id
    # The client sees nothing of an exposed connection beyond its picker row.
    with Session(engine) as db:
        listed = {v.id for v in service.list_connections(db, actor=clients.one).items}
        assert stock.own in listed
        assert not listed & {stock.exposed, stock.exposed_personal, stock.hidden}
        assert not listed & {stock.other_clients, stock.other_workspace}
        with pytest.raises(NotFound):
            service.get(db, actor=clients.one, connection_id=stock.exposed)
        with pytest.raises(NotFound):
            service.usages(db, actor=clients.one, connection_id=stock.exposed)
        row = workflows.picker(db, actor=clients.one, node_id=node_id, search=label).items[0]
        assert row.id == stock.exposed
        assert (row.masked_tail, row.config, row.created_by, row.stable_key) == ("", None, None, "")
        assert row.actions.embed is False and row.actions.edit is False


def test_members_pickers_do_not_change_with_the_switch(
    engine: Engine, world: World, stock: Stock
) -> None:
    _, node_id = _client_node(engine, world.actors["builder1b"])
    offered = _offered(engine, world.actors["builder1b"], node_id)
    # builder1b: shared ones of its workspace, exposed or not; never builder1's personal
    assert {stock.exposed, stock.hidden, stock.own, stock.other_clients} <= offered
    assert not {stock.exposed_personal, stock.other_workspace} & offered


# --- a client's workflows and runs ---------------------------------------------------


def test_client_workflows_are_the_clients_own(
    engine: Engine, world: World, clients: Clients, stock: Stock
) -> None:
    a = world.actors
    wf_id, node_id = _client_node(engine, clients.one)
    with Session(engine, expire_on_commit=False) as db:
        member_wf = workflows.create_workflow(db, actor=a["admin1"], name=f"Team {next(_n)}")
    listed = {}
    for who, actor in [*a.items(), ("client1b", clients.other), ("client2", clients.elsewhere)]:
        with Session(engine) as db:
            listed[who] = {w.id for w in workflows.list_workflows(db, actor=actor)}
    # Members of workspace 1 see the client's workflow (it is the workspace's)…
    for who in ("acct_admin", "admin1", "builder1", "builder1b", "viewer1"):
        assert wf_id in listed[who], who
    # …nobody else does, and the client sees only its own.
    for who in ("client1b", "client2", "admin2", "builder2", "viewer2", "foreign_admin"):
        assert wf_id not in listed[who], who
    assert wf_id in listed["client1"] and member_wf.id not in listed["client1"]

    def tries(actor: Actor) -> dict[str, str]:
        def run(call: Callable[[Session], Any]) -> str:
            with Session(engine, expire_on_commit=False) as db:
                return _outcome(lambda: call(db))

        return {
            "nodes": run(lambda db: workflows.list_nodes(db, actor=actor, workflow_id=wf_id)),
            "node": run(lambda db: workflows.get_node(db, actor=actor, node_id=node_id)),
            "picker": run(lambda db: workflows.picker(db, actor=actor, node_id=node_id)),
            "rename": run(
                lambda db: workflows.rename_workflow(
                    db, actor=actor, workflow_id=wf_id, name=f"Taken {next(_n)}"
                )
            ),
            "params": run(
                lambda db: workflows.update_node_params(
                    db, actor=actor, node_id=node_id, params={"email": "z@example.test"}
                )
            ),
            "pick": run(
                lambda db: workflows.set_node_connection(
                    db, actor=actor, node_id=node_id, connection_id=stock.exposed
                )
            ),
            "add": run(
                lambda db: workflows.add_node(
                    db, actor=actor, workflow_id=wf_id, app="stripe", action="create_customer"
                )
            ),
            "history": run(lambda db: runs.history(db, actor=actor, workflow_id=wf_id)),
        }

    for who, actor in (
        ("client1b", clients.other),
        ("client2", clients.elsewhere),
        ("admin2", a["admin2"]),
        ("foreign_admin", a["foreign_admin"]),
    ):
        assert set(tries(actor).values()) == {MISSING}, who
    # A client cannot reach the members' workflows either.
    with Session(engine) as db:
        with pytest.raises(NotFound):
            workflows.list_nodes(db, actor=clients.one, workflow_id=member_wf.id)
        with pytest.raises(NotFound):
            workflows.delete_workflow(db, actor=clients.one, workflow_id=member_wf.id)


def test_a_clients_workflow_names_share_the_workspace_namespace(
    engine: Engine, world: World, clients: Clients
) -> None:
    name = f"Shared name {next(_n)}"
    with Session(engine, expire_on_commit=False) as db:
        workflows.create_workflow(db, actor=world.actors["admin1"], name=name)
    with Session(engine) as db, pytest.raises(Conflict):
        workflows.create_workflow(db, actor=clients.one, name=name.upper())


def test_workspace_wide_tools_are_not_for_clients(
    engine: Engine, world: World, clients: Clients, stock: Stock
) -> None:
    wf_id, node_id = _client_node(engine, clients.one)
    with Session(engine) as db:
        workflows.set_node_connection(
            db, actor=clients.one, node_id=node_id, connection_id=stock.own
        )
    with Session(engine) as db, pytest.raises(Forbidden):
        transfer.export_workflow(db, actor=clients.one, workflow_id=wf_id)
    document = {"format": transfer.FORMAT, "version": transfer.VERSION, "name": "X", "nodes": []}
    with Session(engine) as db, pytest.raises(Forbidden):
        transfer.import_workflow(db, actor=clients.one, document=document)
    with Session(engine) as db, pytest.raises(Forbidden):
        workflows.replace_connection(
            db, actor=clients.one, from_connection_id=stock.own, to_connection_id=stock.exposed
        )
    with Session(engine) as db:
        assert workflows.get_node(db, actor=clients.one, node_id=node_id).connection_id == (
            stock.own
        )


def _session_factory(engine: Engine) -> Callable[[], Session]:
    return lambda: Session(engine, expire_on_commit=False)


def test_a_clients_run_is_its_own_and_the_workspaces(
    engine: Engine, world: World, clients: Clients, stock: Stock, standin: StandIn
) -> None:
    wf_id, node_id = _client_node(engine, clients.one)
    with Session(engine) as db:
        workflows.set_node_connection(
            db, actor=clients.one, node_id=node_id, connection_id=stock.exposed
        )
    run_id = runs.run_now(_session_factory(engine), actor=clients.one, workflow_id=wf_id)
    with Session(engine) as db:
        view = runs.get(db, actor=clients.one, run_id=run_id)
        assert view.status == "succeeded", view.message
        assert view.started_by == clients.one.label
        assert view.steps[0].status == "succeeded"
        # The workspace's run history shows it, attributed to the client.
        admin_view = runs.get(db, actor=world.actors["admin1"], run_id=run_id)
        assert admin_view.started_by == clients.one.label
        listed = runs.history(db, actor=world.actors["admin1"], workflow_id=wf_id)
        assert [r.id for r in listed.items] == [run_id]
        for outsider in (clients.other, clients.elsewhere, world.actors["admin2"]):
            with pytest.raises(NotFound):
                runs.get(db, actor=outsider, run_id=run_id)
        assert run_id not in {r.id for r in runs.history(db, actor=clients.other).items}
        # The client's history holds its own runs only.
        mine = runs.history(db, actor=clients.one).items
        assert run_id in {r.id for r in mine}
        assert {r.started_by for r in mine} == {clients.one.label}


def test_withdrawing_takes_it_out_of_the_picker_and_the_run_fails_clearly(
    engine: Engine, world: World, clients: Clients, stock: Stock, standin: StandIn
) -> None:
    admin1 = world.actors["admin1"]
    exposed = _stripe(engine, admin1, "use", embedded_enabled=True)
    wf_id, node_id = _client_node(engine, clients.one)
    with Session(engine) as db:
        workflows.set_node_connection(db, actor=clients.one, node_id=node_id, connection_id=exposed)
    # A run queued while it was exposed…
    with Session(engine) as db:
        queued = runs.start(db, actor=clients.one, workflow_id=wf_id)
    assert _toggle(engine, admin1, exposed, False) == OK
    assert exposed not in _offered(engine, clients.one, node_id)
    with Session(engine) as db:
        node = workflows.get_node(db, actor=clients.one, node_id=node_id)
        assert node.connection_unavailable == workflows.UNAVAILABLE_NOTICE
        assert node.connection_label is None and node.connection_status is None
        # members still see it as it is
        seen = workflows.get_node(db, actor=admin1, node_id=node_id)
        assert seen.connection_status == "active" and seen.connection_unavailable == ""
    used_before = _use_count(engine, exposed)
    # …fails at its step, and nothing is sent.
    with Session(engine) as db:
        assert runs.execute(db, queued) == "failed"
    with Session(engine) as db:
        step = runs.get(db, actor=clients.one, run_id=queued).steps[0]
    assert step.status == "failed"
    assert "no longer available for your workflows; nothing was sent" in (step.message or "")
    assert _use_count(engine, exposed) == used_before
    # A new run is refused up front, naming the node.
    with Session(engine) as db, pytest.raises(Invalid) as err:
        runs.start(db, actor=clients.one, workflow_id=wf_id)
    assert "connection no longer available" in str(err.value)
    with Session(engine) as db:
        count = db.exec(select(func.count()).select_from(Run).where(Run.workflow_id == wf_id)).one()
    assert count == 1


def _use_count(engine: Engine, conn_id: str) -> int:
    with Session(engine) as db:
        row = db.get(Connection, conn_id)
        assert row is not None
        return row.use_count
