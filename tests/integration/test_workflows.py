"""Workflows and node connections (F15, F17, F19) through the core, with hostile ids."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.audit import AuditEvent
from connections_app.core.connections import service as connections
from connections_app.core.connections.models import Grant
from connections_app.core.errors import Conflict, Forbidden, Invalid, NotFound
from connections_app.core.workflows import service as workflows
from tests.conftest import World
from tests.integration.helpers import make_stripe

SLACK_TOKEN = "xoxb-demo-0000000000-slackbot"


@pytest.fixture
def db(engine: Engine):  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _slack(db: Session, actor, label: str, sharing: str = "use", node=None):  # type: ignore[no-untyped-def]
    return connections.create(
        db,
        actor=actor,
        app="slack",
        kind="api_key",
        label=label,
        fields={"bot_token": SLACK_TOKEN},
        sharing=sharing,
        node=node,
    )


def _slack_node(db: Session, actor, workflow_id: str, **other):  # type: ignore[no-untyped-def]
    """A Slack node, or (with `app`, `action`, `params`) another app's."""
    node = {
        "app": "slack",
        "action": "post_message",
        "params": {"channel": "#general", "text": "hello"},
        **other,
    }
    return workflows.add_node(db, actor=actor, workflow_id=workflow_id, **node)


def test_build_a_workflow_and_its_nodes(db: Session, world: World) -> None:
    builder = world.actors["builder1"]
    wf = workflows.create_workflow(db, actor=builder, name="Onboarding")
    with pytest.raises(Conflict):
        workflows.create_workflow(db, actor=builder, name="onboarding")
    with pytest.raises(Forbidden):
        workflows.create_workflow(db, actor=world.actors["viewer1"], name="Nope")
    first = workflows.add_node(
        db,
        actor=builder,
        workflow_id=wf.id,
        app="stripe",
        action="create_customer",
        params={"email": "a@example.test"},
    )
    second = workflows.add_node(
        db,
        actor=builder,
        workflow_id=wf.id,
        app="slack",
        action="post_message",
        params={"channel": "#sales", "text": "New customer"},
    )
    with pytest.raises(Invalid, match="Channel is required"):
        workflows.add_node(
            db, actor=builder, workflow_id=wf.id, app="slack", action="post_message", params={}
        )
    with pytest.raises(Invalid):
        workflows.add_node(db, actor=builder, workflow_id=wf.id, app="slack", action="nope")
    workflows.move_node(db, actor=builder, node_id=second.id, direction="up")
    nodes = workflows.list_nodes(db, actor=builder, workflow_id=wf.id)
    assert [n.id for n in nodes] == [second.id, first.id]
    workflows.remove_node(db, actor=builder, node_id=second.id)
    nodes = workflows.list_nodes(db, actor=builder, workflow_id=wf.id)
    assert [(n.id, n.position) for n in nodes] == [(first.id, 1)]
    workflows.rename_workflow(db, actor=builder, workflow_id=wf.id, name="Onboarding v2")
    assert [w.name for w in workflows.list_workflows(db, actor=builder)] == ["Onboarding v2"]
    workflows.delete_workflow(db, actor=builder, workflow_id=wf.id)
    assert workflows.list_workflows(db, actor=builder) == []


def test_picker_offers_only_the_right_app_workspace_and_sharing(db: Session, world: World) -> None:
    admin1, builder1, builder1b = (world.actors[k] for k in ("admin1", "builder1", "builder1b"))
    mine = _slack(db, builder1, "Slack mine", sharing="personal")
    shared = _slack(db, admin1, "Slack team")
    theirs = _slack(db, builder1b, "Slack theirs", sharing="personal")
    other_ws = _slack(db, world.actors["admin2"], "Slack other workspace")
    make_stripe(db, admin1, label="Stripe not slack")
    wf = workflows.create_workflow(db, actor=builder1, name="Picker")
    node = _slack_node(db, builder1, wf.id)
    offered = {v.id for v in workflows.picker(db, actor=builder1, node_id=node.id).items}
    assert mine.id in offered and shared.id in offered
    assert theirs.id not in offered and other_ws.id not in offered
    assert all(
        v.app == "slack" for v in workflows.picker(db, actor=builder1, node_id=node.id).items
    )
    found = workflows.picker(db, actor=builder1, node_id=node.id, search="team").items
    assert [v.id for v in found] == [shared.id]


def test_picker_merges_granted_account_connections_in_order_across_pages(
    db: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Own and granted connections come from two sources (each on its own index): the
    pages are one ordered list, the total counts both, and only grants to this
    workspace count."""
    acct_admin, builder2 = world.actors["acct_admin"], world.actors["builder2"]
    granted = connections.create(
        db,
        actor=acct_admin,
        app="slack",
        kind="api_key",
        label="Picker m granted",
        fields={"bot_token": SLACK_TOKEN},
        scope="account",
    )
    elsewhere = connections.create(
        db,
        actor=acct_admin,
        app="slack",
        kind="api_key",
        label="Picker m granted elsewhere",
        fields={"bot_token": SLACK_TOKEN},
        scope="account",
    )
    db.add(Grant(account_id=world.account_id, connection_id=granted.id, workspace_id=world.ws2))
    db.add(Grant(account_id=world.account_id, connection_id=elsewhere.id, workspace_id=world.ws1))
    db.commit()
    own = [
        _slack(db, world.actors["admin2"], f"Picker {letter}")
        for letter in "abcdefghijklnopqrstuvwxyz"  # 25 labels around "Picker m granted"
    ]
    wf = workflows.create_workflow(db, actor=builder2, name="Merge")
    node = _slack_node(db, builder2, wf.id)
    first = workflows.picker(db, actor=builder2, node_id=node.id, search="picker ")
    second = workflows.picker(db, actor=builder2, node_id=node.id, search="picker ", page=2)
    labels = [v.label for v in first.items + second.items]
    assert first.total == 26 and len(first.items) == workflows.PICKER_PAGE
    assert labels == sorted(labels, key=str.casefold)
    assert "Picker m granted" in labels and "Picker m granted elsewhere" not in labels
    assert {v.id for v in own} | {granted.id} == {v.id for v in first.items + second.items}
    assert workflows.picker(db, actor=builder2, node_id=node.id, search="granted").total == 1
    # A large workspace is counted only so far: "20+", and paging still reaches the end.
    monkeypatch.setattr(workflows, "PICKER_COUNT_CAP", 20)
    capped = workflows.picker(db, actor=builder2, node_id=node.id, search="picker ")
    assert (capped.total, capped.more, capped.has_next) == (20, True, True)
    rest = workflows.picker(db, actor=builder2, node_id=node.id, search="picker ", page=2)
    assert [v.label for v in capped.items + rest.items] == labels and not rest.has_next


def test_hostile_ids_are_not_found_and_change_nothing(db: Session, world: World) -> None:
    builder1, admin2 = world.actors["builder1"], world.actors["admin2"]
    foreign_conn = _slack(db, admin2, "Slack ws2")
    foreign_wf = workflows.create_workflow(db, actor=admin2, name="Theirs")
    foreign_node = _slack_node(db, admin2, foreign_wf.id)
    wf = workflows.create_workflow(db, actor=builder1, name="Mine")
    node = _slack_node(db, builder1, wf.id)
    with pytest.raises(NotFound):
        workflows.set_node_connection(
            db, actor=builder1, node_id=node.id, connection_id=foreign_conn.id
        )
    with pytest.raises(NotFound):
        workflows.set_node_connection(
            db, actor=builder1, node_id=foreign_node.id, connection_id=None
        )
    with pytest.raises(NotFound):
        workflows.list_nodes(db, actor=builder1, workflow_id=foreign_wf.id)
    with pytest.raises(NotFound):
        workflows.picker(db, actor=builder1, node_id=foreign_node.id)
    with pytest.raises(NotFound):
        workflows.delete_workflow(db, actor=builder1, workflow_id=foreign_wf.id)
    for hostile in (None, 42, ["x"], "x" * 500):
        with pytest.raises((NotFound, Invalid)):
            workflows.set_node_connection(
                db, actor=builder1, node_id=hostile, connection_id=foreign_conn.id
            )
    theirs = workflows.list_nodes(db, actor=admin2, workflow_id=foreign_wf.id)
    assert theirs[0].connection_id is None
    stripe = make_stripe(db, world.actors["admin1"], label="Stripe wrong app")
    with pytest.raises(Invalid, match="another app"):
        workflows.set_node_connection(db, actor=builder1, node_id=node.id, connection_id=stripe.id)


def test_reuse_switch_all_and_delete_shows_what_breaks(db: Session, world: World) -> None:
    admin1, builder1 = world.actors["admin1"], world.actors["builder1"]
    x = _slack(db, admin1, "Slack X")
    y = _slack(db, admin1, "Slack Y")
    wf1 = workflows.create_workflow(db, actor=builder1, name="One")
    wf2 = workflows.create_workflow(db, actor=builder1, name="Two")
    nodes = []
    for wf in (wf1, wf1, wf2):
        node = _slack_node(db, builder1, wf.id)
        workflows.set_node_connection(db, actor=builder1, node_id=node.id, connection_id=x.id)
        nodes.append(node)
    assert len(connections.usages(db, actor=admin1, connection_id=x.id)) == 3
    moved = workflows.replace_connection(
        db, actor=builder1, from_connection_id=x.id, to_connection_id=y.id
    )
    assert moved == 3
    replaced = db.exec(select(AuditEvent).where(AuditEvent.action == "connection_replaced")).all()
    assert len(replaced) == 1 and replaced[0].detail["nodes"] == 3
    result = connections.delete(db, actor=admin1, connection_id=y.id)
    assert {u.node_id for u in result.broken_usages} == {n.id for n in nodes}
    after = workflows.list_nodes(db, actor=builder1, workflow_id=wf1.id)
    assert all(n.connection_id == y.id and n.connection_status is None for n in after)


_FRESH_ENTRY_POINT = """
import json, sys
from sqlmodel import Session
from connections_app.core.connections import service
from connections_app.core.db import build_engine
from connections_app.core.tenancy.actor import Actor, Role

args = json.loads(sys.argv[1])
loaded = "connections_app.core.workflows.service" in sys.modules
actor = Actor(**{**args["actor"], "role": Role(args["actor"]["role"])})
with Session(build_engine(args["url"])) as db:
    listed = service.usages(db, actor=actor, connection_id=args["conn"])
    result = service.delete(db, actor=actor, connection_id=args["conn"])
print(json.dumps({"loaded": loaded, "listed": len(listed),
                  "broken": sorted(u.node_id for u in result.broken_usages)}))
"""


def test_delete_finds_usages_from_a_fresh_entry_point(
    db: Session, world: World, db_url: str
) -> None:
    """F19: a process that imports only the connection service (no workflows module,
    no side-effect import) still lists what a delete will break."""
    admin1, builder1 = world.actors["admin1"], world.actors["builder1"]
    x = _slack(db, admin1, "Slack fresh")
    wf = workflows.create_workflow(db, actor=builder1, name="Fresh entry")
    node = _slack_node(db, builder1, wf.id)
    workflows.set_node_connection(db, actor=builder1, node_id=node.id, connection_id=x.id)
    db.commit()  # end this session's transaction: the other process writes
    args = {
        "url": db_url,
        "conn": x.id,
        "actor": {**dataclasses.asdict(admin1), "role": str(admin1.role)},
    }
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_ENTRY_POINT, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer == {"loaded": False, "listed": 1, "broken": [node.id]}


def test_add_from_a_node_saves_and_selects_in_one_transaction(db: Session, world: World) -> None:
    """F16 for forms: the new connection is selected on the node it was added from in the
    transaction that creates it; a node that cannot take it saves nothing at all."""
    builder1 = world.actors["builder1"]
    wf = workflows.create_workflow(db, actor=builder1, name="Add from node")
    node = _slack_node(db, builder1, wf.id)
    created = _slack(db, builder1, "Slack from node", node=node.id)
    after = workflows.list_nodes(db, actor=builder1, workflow_id=wf.id)
    assert [n.connection_id for n in after] == [created.id]
    event = db.exec(
        select(AuditEvent).where(
            AuditEvent.connection_id == created.id, AuditEvent.action == "created"
        )
    ).one()
    assert event.detail["node"] == node.id
    other_app = _slack_node(
        db, builder1, wf.id, app="stripe", action="create_customer", params={"email": "a@b.co"}
    )
    for actor, node_id, error in [
        (builder1, "no-such-node", NotFound),
        (builder1, other_app.id, Invalid),
        (world.actors["builder2"], node.id, NotFound),  # another workspace's node
    ]:
        with pytest.raises(error):
            _slack(db, actor, "Never saved", node=node_id)
        db.rollback()
    visible = connections.list_connections(db, actor=builder1, search="Never saved")
    assert visible.total == 0
