"""Account connections and their grants (F9, F25, F26): who may grant, what a grant
shows where, and hostile ids (another account's or workspace's connections,
workspaces and grants) that are not found and change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core import alerts
from connections_app.core.audit import AuditEvent
from connections_app.core.connections import grants
from connections_app.core.connections import service as connections
from connections_app.core.connections.models import Connection, Grant
from connections_app.core.errors import Conflict, Forbidden, Invalid, NotFound
from connections_app.core.metering import service as metering
from connections_app.core.metering.models import GrantSpend
from connections_app.core.tenancy.actor import Actor
from connections_app.core.workflows import runs, transfer
from connections_app.core.workflows import service as workflows
from tests.conftest import World
from tests.integration.helpers import (
    account_key,
    grants_snapshot,
    other_account_admin,
    workflow_with_node,
)

OPENAI_KEY = "sk-DemoAccountKey000111222"
_n = iter(range(100_000))


def _key(db: Session, actor: Actor, label: str | None = None) -> str:
    return account_key(db, actor, label or f"OpenAI agency {next(_n)}", OPENAI_KEY)


def _in(engine: Engine, call: Any, **kwargs: Any) -> Any:
    """One service call in its own session, closed whatever happens."""
    with Session(engine) as db:
        return call(db, **kwargs)


def _granted_chat(db: Session, world: World, label: str) -> tuple[str, Any, Any, Any]:
    """An account key granted to workspace 1 and a workflow there whose one OpenAI chat
    node uses it: (key id, grant, workflow, node)."""
    ada = world.actors["acct_admin"]
    key = _key(db, ada, label)
    g = grants.grant(db, actor=ada, connection_id=key, workspace_id=world.ws1)
    builder1 = world.actors["builder1"]
    wf, _ = workflow_with_node(
        db,
        builder1,
        f"Chat {next(_n)}",
        key,
        {"model": "gpt-4o-mini", "prompt": "hi"},
        app="openai",
        action="chat_completion",
    )
    return key, g, wf, workflows.list_nodes(db, actor=builder1, workflow_id=wf.id)[0]


@pytest.fixture
def foreign_admin(engine: Engine, world: World) -> Actor:
    return other_account_admin(engine, world.other_account_id, world.other_ws)


def test_cap_parsing() -> None:
    assert grants.parse_cap("5") == 500
    assert grants.parse_cap("5.00") == 500
    assert grants.parse_cap(" $1,250.5 ") == 125050
    assert grants.parse_cap("0.01") == 1
    assert grants.parse_cap(7) == 700
    assert grants.parse_cap("") is None and grants.parse_cap(None) is None
    for bad in ("0", "0.00", "-5", "5.001", "abc", "1e3", "5,00", "$", True, 3.5, [1], "9" * 30):
        with pytest.raises(Invalid):
            grants.parse_cap(bad)
    with pytest.raises(Invalid, match="at most"):
        grants.parse_cap("1000000.01")
    assert metering.dollars(1_005_000) == "$1.01" and metering.dollars(0) == "$0.00"
    # One way to say money: a bar never reads $1.00 where the cap message says $1.01.
    assert metering.dollars(1_000_001) == "$1.01"


def test_account_admin_grants_caps_and_removes(db: Session, world: World) -> None:
    ada = world.actors["acct_admin"]
    key = _key(db, ada, "OpenAI grants")
    # Sealed with the account's key, in no workspace; label unique per account.
    row = db.get(Connection, key)
    assert row is not None and row.workspace_id is None and row.tenant_id == world.account_id
    with pytest.raises(Conflict):
        _key(db, ada, "OpenAI grants")
    choices = grants.grantable_workspaces(db, actor=ada, connection_id=key)
    assert {c.id for c in choices} == {world.ws1, world.ws2}
    g1 = grants.grant(db, actor=ada, connection_id=key, workspace_id=world.ws1, cap="1.00")
    g2 = grants.grant(db, actor=ada, connection_id=key, workspace_id=world.ws2, cap="")
    assert (g1.cap_cents, g1.cap_label, g2.cap_cents, g2.cap_label) == (
        100,
        "$1.00",
        None,
        "No cap",
    )
    with pytest.raises(Conflict):
        grants.grant(db, actor=ada, connection_id=key, workspace_id=world.ws1)
    assert grants.grantable_workspaces(db, actor=ada, connection_id=key) == []
    # Month-to-date spend is read from what metering recorded (this UTC month only).
    db.add(
        GrantSpend(
            connection_id=key,
            workspace_id=world.ws1,
            month=metering.month_key(),
            account_id=world.account_id,
            spent_micros=420_000,
            calls=3,
        )
    )
    db.add(
        GrantSpend(
            connection_id=key,
            workspace_id=world.ws2,
            month="2001-01",
            account_id=world.account_id,
            spent_micros=9_000_000,
        )
    )
    db.commit()
    listed = {g.workspace_id: g for g in grants.list_grants(db, actor=ada, connection_id=key)}
    assert listed[world.ws1].spent_micros == 420_000 and listed[world.ws1].percent == 42
    assert listed[world.ws1].workspace_name == "Client One"
    assert listed[world.ws2].spent_micros == 0 and listed[world.ws2].percent == 0
    changed = grants.set_cap(db, actor=ada, grant_id=g1.id, cap="5")
    assert changed.cap_cents == 500 and changed.spent_label == "$0.42"
    assert grants.set_cap(db, actor=ada, grant_id=g1.id, cap="").cap_cents is None
    with pytest.raises(Invalid):
        grants.set_cap(db, actor=ada, grant_id=g1.id, cap="-1")
    assert grants.remove_grant(db, actor=ada, grant_id=g2.id) == "Client Two"
    actions = [
        e.action
        for e in db.exec(
            select(AuditEvent).where(AuditEvent.connection_id == key).order_by(AuditEvent.seq)
        )
    ]
    assert actions == [
        "created",
        "granted",
        "granted",
        "grant_cap_changed",
        "grant_cap_changed",
        "grant_removed",
    ]
    removed = db.exec(select(AuditEvent).where(AuditEvent.action == "grant_removed")).all()
    assert removed[-1].workspace_id == world.ws2  # the workspace whose screens change


def test_granted_connection_in_a_workspace(db: Session, world: World) -> None:
    ada, admin1, builder1 = (world.actors[n] for n in ("acct_admin", "admin1", "builder1"))
    key = _key(db, ada, "OpenAI shown")
    builder2 = world.actors["builder2"]
    assert key not in {v.id for v in connections.list_connections(db, actor=builder1).items}
    grants.grant(db, actor=ada, connection_id=key, workspace_id=world.ws1)
    listed = {v.id: v for v in connections.list_connections(db, actor=builder1).items}
    assert listed[key].granted_by == "Agency"
    assert listed[key].scope_label == "Granted by Agency"
    # A workspace admin may use and test it, not see its configuration, rotate or delete it.
    view = connections.get(db, actor=admin1, connection_id=key)
    assert view.config is None and view.scope_label == "Granted by Agency"
    actions = view.actions
    assert actions.test and not (actions.see_settings or actions.rotate or actions.delete)
    assert not (actions.edit or actions.see_history)
    for forbidden in (
        lambda: connections.rotate(
            db, actor=admin1, connection_id=key, secrets={"api_key": "sk-Other0000000000"}
        ),
        lambda: connections.delete(db, actor=admin1, connection_id=key),
        lambda: grants.list_grants(db, actor=admin1, connection_id=key),
        lambda: grants.grant(db, actor=admin1, connection_id=key, workspace_id=world.ws2),
    ):
        with pytest.raises(Forbidden):
            forbidden()
    # Not granted to workspace 2: invisible there.
    with pytest.raises(NotFound):
        connections.get(db, actor=builder2, connection_id=key)
    # On the account's own screen it is the account's, not "granted by".
    own = connections.list_connections(db, actor=ada, account_scope=True).items
    assert {v.id: v.scope_label for v in own}[key] == "Account"


def test_removing_a_grant_signals_and_breaks_nodes_and_runs(
    engine: Engine, db: Session, world: World
) -> None:
    ada, builder1 = world.actors["acct_admin"], world.actors["builder1"]
    key, g, wf, node = _granted_chat(db, world, "OpenAI removed")
    assert node.connection_label == "OpenAI removed"
    picker = workflows.picker(db, actor=builder1, node_id=node.id)
    assert [v.granted_by for v in picker.items if v.id == key] == ["Agency"]
    # Deleting lists usages in every workspace, with the workspace's name.
    usages = connections.usages(db, actor=ada, connection_id=key)
    assert [(u.workflow_id, u.workspace_name) for u in usages] == [(wf.id, "Client One")]
    heard: list[str] = []
    unsubscribe = alerts.subscribe(heard.append)
    try:
        grants.remove_grant(db, actor=ada, grant_id=g.id)
    finally:
        unsubscribe()
    assert world.ws1 in heard and f"account:{world.account_id}" in heard
    assert key not in {v.id for v in workflows.picker(db, actor=builder1, node_id=node.id).items}
    view = workflows.get_node(db, actor=builder1, node_id=node.id)
    assert view.connection_ungranted and view.connection_status is None
    db.rollback()
    with pytest.raises(Invalid, match="is no longer granted to this workspace"):
        runs.run_now(
            lambda: Session(engine, expire_on_commit=False), actor=builder1, workflow_id=wf.id
        )
    # The account admin, acting in that workspace, sees the key but may not pick it there.
    with pytest.raises(Invalid, match="not granted"):
        workflows.set_node_connection(db, actor=ada, node_id=node.id, connection_id=key)
    # A crafted import naming the ungranted key (by stable key or id) binds nothing.
    stable = connections.get(db, actor=ada, connection_id=key, account_screen=True).stable_key
    for name in (stable, key):
        document = {
            "format": transfer.FORMAT,
            "version": transfer.VERSION,
            "name": f"Crafted {next(_n)}",
            "nodes": [
                {
                    "label": "Chat",
                    "app": "openai",
                    "action": "chat_completion",
                    "params": {"model": "m", "prompt": "p"},
                    "connection": name,
                }
            ],
        }
        result = transfer.import_workflow(db, actor=builder1, document=json.dumps(document))
        assert result.bound == [] and len(result.unbound) == 1


def test_deleting_an_account_connection_signals_granted_workspaces(
    db: Session, world: World
) -> None:
    ada = world.actors["acct_admin"]
    key = _key(db, ada, "OpenAI deleted")
    grants.grant(db, actor=ada, connection_id=key, workspace_id=world.ws2)
    heard: list[str] = []
    unsubscribe = alerts.subscribe(heard.append)
    try:
        connections.delete(db, actor=ada, connection_id=key)
    finally:
        unsubscribe()
    assert world.ws2 in heard and f"account:{world.account_id}" in heard
    assert db.exec(select(Grant).where(Grant.connection_id == key)).first() is None


@pytest.fixture
def hostile_world(engine: Engine, world: World, foreign_admin: Actor) -> Iterator[dict[str, str]]:
    """Another account's key and grant, this account's key granted to workspace 2 only,
    and workspace 2's own connection."""
    ada = world.actors["acct_admin"]
    with Session(engine, expire_on_commit=False) as db:
        theirs = _key(db, foreign_admin, f"Their key {next(_n)}")
        their_grant = grants.grant(
            db, actor=foreign_admin, connection_id=theirs, workspace_id=world.other_ws
        )
        ours = _key(db, ada, f"Our ws2 key {next(_n)}")
        ws2_grant = grants.grant(db, actor=ada, connection_id=ours, workspace_id=world.ws2)
        ws2_own = connections.create(
            db,
            actor=world.actors["admin2"],
            app="openai",
            label=f"Ws2 own {next(_n)}",
            fields={"api_key": OPENAI_KEY},
        ).id
    yield {
        "their_conn": theirs,
        "their_grant": their_grant.id,
        "their_ws": world.other_ws,
        "ws2_conn": ours,
        "ws2_grant": ws2_grant.id,
        "ws2_own": ws2_own,
    }


@pytest.mark.parametrize("who", ["admin1", "builder1", "viewer1", "client1", "acct_admin"])
def test_hostile_ids_are_not_found_and_change_nothing(
    engine: Engine, world: World, hostile_world: dict[str, str], who: str
) -> None:
    actor = world.actors[who]
    h = hostile_world
    before = grants_snapshot(engine)
    foreign_conns = [h["their_conn"], h["ws2_own"]]
    foreign_grants = [h["their_grant"]]
    if who != "acct_admin":  # this account's, but not granted to their workspace
        foreign_conns.append(h["ws2_conn"])
        foreign_grants.append(h["ws2_grant"])
    calls = []
    for conn_id in [*foreign_conns, None, 7, "x" * 500, ["a"]]:
        calls += [
            lambda c=conn_id: _in(engine, grants.list_grants, actor=actor, connection_id=c),
            lambda c=conn_id: _in(
                engine, grants.grantable_workspaces, actor=actor, connection_id=c
            ),
            lambda c=conn_id: _in(
                engine, grants.grant, actor=actor, connection_id=c, workspace_id=world.ws1
            ),
            lambda c=conn_id: _in(
                engine, grants.grants_by_connection, actor=actor, connection_ids=[c]
            ),
        ]
    for grant_id in [*foreign_grants, None, {"id": 1}, "' OR 1=1 --"]:
        calls += [
            lambda g=grant_id: _in(engine, grants.set_cap, actor=actor, grant_id=g, cap="9"),
            lambda g=grant_id: _in(engine, grants.remove_grant, actor=actor, grant_id=g),
        ]
    # A workspace of another account, given with this account's own key.
    with Session(engine) as db:
        own_key = _key(db, world.actors["acct_admin"], f"Own {next(_n)}")
    before = grants_snapshot(engine)
    calls.append(
        lambda: _in(
            engine, grants.grant, actor=actor, connection_id=own_key, workspace_id=h["their_ws"]
        )
    )
    for call in calls:
        with pytest.raises(NotFound):
            call()
    assert grants_snapshot(engine) == before


def test_a_grant_removed_while_a_run_is_queued_fails_its_step_clearly(
    engine: Engine, db: Session, world: World
) -> None:
    """Run start checked the grant; the step checks it again when it executes."""
    ada, builder1 = world.actors["acct_admin"], world.actors["builder1"]
    _, g, wf, _ = _granted_chat(db, world, "OpenAI queued")
    run_id = runs.start(db, actor=builder1, workflow_id=wf.id)
    grants.remove_grant(db, actor=ada, grant_id=g.id)
    db.rollback()
    with Session(engine, expire_on_commit=False) as worker:
        assert runs.execute(worker, run_id) == "failed"
    step = runs.get(db, actor=builder1, run_id=run_id).steps[0]
    assert step.message == (
        "“OpenAI queued” is no longer granted to this workspace. An account admin can grant "
        "it again, or pick another connection in the node's panel."
    )
