"""Workflow export / import (F29) binding nodes by stable key (F3), on a real database.

The properties that matter: an export carries no ids, secrets or workspace facts;
an import binds only to connections usable where it lands (never the source's,
never another account's); a bad document writes nothing; roles are enforced; and
export → import → export gives the same document back.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app import cli
from connections_app.core import audit
from connections_app.core.audit import Action, AuditEvent
from connections_app.core.connections import service as connections
from connections_app.core.connections.models import Connection, Grant, Status
from connections_app.core.connections.views import ConnectionView
from connections_app.core.errors import Conflict, Forbidden, Invalid, NotFound
from connections_app.core.identity.models import Account
from connections_app.core.tenancy.actor import Actor
from connections_app.core.workflows import service as workflows
from connections_app.core.workflows import transfer
from connections_app.core.workflows.models import Node, Workflow
from tests.conftest import World
from tests.integration.cli_env import use_database
from tests.integration.helpers import STRIPE_KEY

SLACK_TOKEN = "xoxb-transfer-0000000000-exportsecret"
SLACK_TOKEN_2 = "xoxb-transfer-1111111111-othersecret"


@pytest.fixture
def db(engine: Engine):  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _slack(
    db: Session,
    actor: Actor,
    label: str,
    key: str,
    *,
    token: str = SLACK_TOKEN,
    sharing: str = "use",
    scope: str = "workspace",
) -> ConnectionView:
    return connections.create(
        db,
        actor=actor,
        app="slack",
        kind="api_key",
        label=label,
        fields={"bot_token": token},
        stable_key=key,
        sharing=sharing,
        scope=scope,
    )


def _stripe(db: Session, actor: Actor, label: str, key: str) -> ConnectionView:
    return connections.create(
        db,
        actor=actor,
        app="stripe",
        label=label,
        fields={"secret_key": STRIPE_KEY},
        stable_key=key,
    )


def _slack_node(
    db: Session, actor: Actor, workflow_id: str, label: str, conn: ConnectionView | None
) -> str:
    node = workflows.add_node(
        db,
        actor=actor,
        workflow_id=workflow_id,
        app="slack",
        action="post_message",
        params={"channel": "#ops", "text": f"hello from {label}"},
        label=label,
    )
    if conn is not None:
        workflows.set_node_connection(db, actor=actor, node_id=node.id, connection_id=conn.id)
    return node.id


def _node(
    app: str = "slack",
    action: str = "post_message",
    params: Any = None,
    connection: Any = None,
    label: Any = "A node",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "label": label,
        "app": app,
        "action": action,
        "auth_kind": None,
        "params": {"channel": "#c", "text": "t"} if params is None else params,
        "connection": connection,
        **extra,
    }


def _doc(nodes: Any, name: Any = "Imported", **extra: Any) -> dict[str, Any]:
    return {
        "format": "connections.workflow",
        "version": 1,
        "name": name,
        "nodes": nodes,
        **extra,
    }


def _counts(db: Session, world: World) -> tuple[int, int, int]:
    """Workflows and nodes in every workspace, audit events in every account (other than
    the `access_denied` events refusals leave behind: see `_refusals`).

    Reads in a transaction of its own and ends it: on SQLite every transaction takes
    the write lock (BEGIN IMMEDIATE), and the CLI runs on another connection.
    """
    db.rollback()
    wfs = db.exec(select(func.count()).select_from(Workflow)).one()
    nodes = db.exec(select(func.count()).select_from(Node)).one()
    events = db.exec(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action != Action.ACCESS_DENIED)
    ).one()
    db.rollback()
    return wfs, nodes, events


def _refusals(db: Session) -> int:
    db.rollback()
    count = db.exec(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == Action.ACCESS_DENIED)
    ).one()
    db.rollback()
    return count


def _node_connections(db: Session, workflow_id: str) -> list[str | None]:
    db.rollback()
    rows = db.exec(select(Node).where(Node.workflow_id == workflow_id).order_by(Node.position))
    return [n.connection_id for n in rows]


# --- export ---------------------------------------------------------------------------


def test_export_holds_no_ids_secrets_or_workspace_facts(db: Session, world: World) -> None:
    admin1, builder1 = world.actors["admin1"], world.actors["builder1"]
    slack = _slack(db, admin1, "Slack export", "slack-export")
    stripe = _stripe(db, admin1, "Stripe export", "stripe-export")
    doomed = _slack(db, admin1, "Slack doomed", "slack-doomed", token=SLACK_TOKEN_2)
    wf = workflows.create_workflow(db, actor=builder1, name="Export me")
    n1 = _slack_node(db, builder1, wf.id, "Notify", slack)
    n2 = workflows.add_node(
        db,
        actor=builder1,
        workflow_id=wf.id,
        app="stripe",
        action="create_customer",
        params={"email": "a@example.test"},
        label="Charge",
    )
    workflows.set_node_connection(db, actor=builder1, node_id=n2.id, connection_id=stripe.id)
    n3 = _slack_node(db, builder1, wf.id, "No connection", None)
    n4 = _slack_node(db, builder1, wf.id, "Dangling", doomed)
    connections.delete(db, actor=admin1, connection_id=doomed.id)

    doc = transfer.export_workflow(db, actor=builder1, workflow_id=wf.id)
    assert doc == {
        "format": "connections.workflow",
        "version": 1,
        "name": "Export me",
        "nodes": [
            {
                "label": "Notify",
                "app": "slack",
                "action": "post_message",
                "auth_kind": None,
                "params": {"channel": "#ops", "text": "hello from Notify"},
                "connection": "slack-export",
            },
            {
                "label": "Charge",
                "app": "stripe",
                "action": "create_customer",
                "auth_kind": None,
                "params": {"email": "a@example.test"},
                "connection": "stripe-export",
            },
            {
                "label": "No connection",
                "app": "slack",
                "action": "post_message",
                "auth_kind": None,
                "params": {"channel": "#ops", "text": "hello from No connection"},
                "connection": None,
            },
            {
                "label": "Dangling",
                "app": "slack",
                "action": "post_message",
                "auth_kind": None,
                "params": {"channel": "#ops", "text": "hello from Dangling"},
                "connection": None,
            },
        ],
    }
    text = json.dumps(doc)
    forbidden = [
        wf.id,
        n1,
        n2.id,
        n3,
        n4,
        slack.id,
        stripe.id,
        doomed.id,
        world.ws1,
        world.account_id,
        world.user_ids["builder1"],
        world.user_ids["admin1"],
        SLACK_TOKEN,
        SLACK_TOKEN_2,
        STRIPE_KEY,
        slack.masked_tail,
        stripe.masked_tail,
        "Client One",  # the workspace's name
    ]
    for value in forbidden:
        assert value and value not in text, value

    # Readers may export (no secrets in it); the same document comes out.
    assert transfer.export_workflow(db, actor=world.actors["viewer1"], workflow_id=wf.id) == doc


def test_export_hostile_ids_are_not_found(db: Session, world: World) -> None:
    theirs = workflows.create_workflow(db, actor=world.actors["admin2"], name="Not yours")
    builder1 = world.actors["builder1"]
    for hostile in (None, 42, ["x"], {"id": theirs.id}, "", "x" * 500, theirs.id):
        with pytest.raises(NotFound):
            transfer.export_workflow(db, actor=builder1, workflow_id=hostile)
    mine = workflows.create_workflow(db, actor=builder1, name="Client cannot")
    for outsider in ("client1", "foreign_admin", "admin2"):
        with pytest.raises(NotFound):
            transfer.export_workflow(db, actor=world.actors[outsider], workflow_id=mine.id)


# --- import: binding ------------------------------------------------------------------


def test_import_into_another_workspace_binds_by_stable_key(db: Session, world: World) -> None:
    admin1, builder1 = world.actors["admin1"], world.actors["builder1"]
    admin2, builder2 = world.actors["admin2"], world.actors["builder2"]
    # Source workspace: one connection per key the nodes use.
    src = {
        key: _slack(db, admin1, f"Src {key}", key)
        for key in ("team", "only-src", "crm", "old", "private", "mine")
    }
    src_stripe = _stripe(db, admin1, "Src billing", "billing")
    wf = workflows.create_workflow(db, actor=builder1, name="Cross workspace")
    for key, conn in src.items():
        _slack_node(db, builder1, wf.id, f"Node {key}", conn)
    charge = workflows.add_node(
        db,
        actor=builder1,
        workflow_id=wf.id,
        app="stripe",
        action="create_customer",
        params={"email": "b@example.test"},
        label="Node billing",
    )
    workflows.set_node_connection(
        db, actor=builder1, node_id=charge.id, connection_id=src_stripe.id
    )
    _slack_node(db, builder1, wf.id, "Node none", None)
    doc = transfer.export_workflow(db, actor=builder1, workflow_id=wf.id)

    # Target workspace: same keys, different connections, some unusable.
    team2 = _slack(db, admin2, "Team chat ws2", "team")
    billing2 = _stripe(db, admin2, "Billing ws2", "billing")
    _stripe(db, admin2, "CRM is stripe here", "crm")  # wrong app for the slack node
    old2 = _slack(db, admin2, "Old slack ws2", "old")
    db.rollback()
    row = db.get(Connection, old2.id)
    assert row is not None
    row.status = Status.REVOKED
    db.add(row)
    db.commit()
    _slack(db, admin2, "Admin's own ws2", "private", sharing="personal")  # builder2 can't see it
    mine2 = _slack(db, builder2, "Builder's own ws2", "mine", sharing="personal")

    before = _counts(db, world)
    result = transfer.import_workflow(db, actor=builder2, document=doc)
    assert result.name == "Cross workspace"
    assert result.bound == [
        ("Node team", "Team chat ws2"),
        ("Node mine", "Builder's own ws2"),
        ("Node billing", "Billing ws2"),
    ]
    assert result.unbound == [
        ("Node only-src", "slack", "only-src", transfer.NOT_HERE),
        ("Node crm", "slack", "crm", transfer.OTHER_APP),
        ("Node old", "slack", "old", transfer.REVOKED),
        ("Node private", "slack", "private", transfer.NOT_HERE),  # invisible ≡ absent
        ("Node none", "slack", None, transfer.NO_KEY),
    ]
    assert _node_connections(db, result.workflow_id) == [
        team2.id,
        None,
        None,
        None,
        None,
        mine2.id,
        billing2.id,
        None,
    ]
    source_ids = {c.id for c in src.values()} | {src_stripe.id}
    assert not source_ids & set(_node_connections(db, result.workflow_id))

    # One workflow, its nodes, exactly one audit event, in the target workspace.
    wfs, nodes, events = _counts(db, world)
    assert (wfs, nodes, events) == (before[0] + 1, before[1] + 8, before[2] + 1)
    event = db.exec(select(AuditEvent).where(AuditEvent.target_id == result.workflow_id)).one()
    assert event.action == audit.Action.WORKFLOW_CREATED
    assert event.workspace_id == world.ws2 and event.actor_id == builder2.user_id
    assert event.detail["imported"] is True
    assert (event.detail["nodes"], event.detail["unbound"]) == (8, 5)
    assert audit.verify(db, account_id=world.account_id).ok

    # A workspace admin sees the builder's personal connection but may not use it: said
    # so; the admin's own personal connection binds for the admin.
    again = transfer.import_workflow(db, actor=admin2, document=doc, name="Cross by admin")
    reasons = {u.node: u.reason for u in again.unbound}
    assert reasons["Node mine"] == transfer.NOT_ALLOWED
    assert ("Node private", "Admin's own ws2") in again.bound


def test_granted_account_connection_binds_but_the_workspace_own_wins(
    db: Session, world: World
) -> None:
    acct_admin, builder2 = world.actors["acct_admin"], world.actors["builder2"]
    shared = _slack(db, acct_admin, "Account slack", "acct-slack", scope="account")
    both = _slack(db, acct_admin, "Account dup", "dup-key", scope="account")
    db.add(Grant(account_id=world.account_id, connection_id=shared.id, workspace_id=world.ws2))
    db.add(Grant(account_id=world.account_id, connection_id=both.id, workspace_id=world.ws2))
    db.commit()
    own = _slack(db, world.actors["admin2"], "Own dup", "dup-key")
    doc = _doc(
        [_node(connection="acct-slack", label="Granted"), _node(connection="dup-key", label="Dup")],
        name="Granted import",
    )
    result = transfer.import_workflow(db, actor=builder2, document=doc)
    assert result.unbound == []
    assert _node_connections(db, result.workflow_id) == [shared.id, own.id]
    # Not granted to ws1 (builder1's workspace): nothing binds there.
    other = transfer.import_workflow(db, actor=world.actors["builder1"], document=doc)
    assert [u.reason for u in other.unbound] == [transfer.NOT_HERE, transfer.NOT_HERE]


def test_import_into_another_account_never_binds_to_the_source(db: Session, world: World) -> None:
    admin1, builder1 = world.actors["admin1"], world.actors["builder1"]
    foreign = world.actors["foreign_admin"]
    src = _slack(db, admin1, "Src foreign test", "cross-account")
    src_b = _slack(db, admin1, "Src foreign test b", "cross-account-b")
    wf = workflows.create_workflow(db, actor=builder1, name="To another account")
    _slack_node(db, builder1, wf.id, "First", src)
    _slack_node(db, builder1, wf.id, "Second", src_b)
    doc = transfer.export_workflow(db, actor=builder1, workflow_id=wf.id)

    result = transfer.import_workflow(db, actor=foreign, document=doc)
    assert result.bound == []
    assert [(u.stable_key, u.reason) for u in result.unbound] == [
        ("cross-account", transfer.NOT_HERE),
        ("cross-account-b", transfer.NOT_HERE),
    ]
    assert _node_connections(db, result.workflow_id) == [None, None]

    # Once the foreign workspace has its own connection with that key, it binds to that one.
    theirs = _slack(db, foreign, "Their slack", "cross-account")
    again = transfer.import_workflow(db, actor=foreign, document=doc)
    assert _node_connections(db, again.workflow_id) == [theirs.id, None]
    db.rollback()
    imported = db.get(Workflow, again.workflow_id)
    assert imported is not None
    assert (imported.account_id, imported.workspace_id) == (world.other_account_id, world.other_ws)


# --- import: hostile documents --------------------------------------------------------

_GOOD = _node()
_HUGE = "x" * (transfer.MAX_DOCUMENT_BYTES + 10)


_BAD_DOCUMENTS: list[tuple[Any, str]] = [
    ([], "must be a JSON object"),
    ("[]", "must be a JSON object"),
    (42, "must be a JSON object"),
    (None, "must be a JSON object"),
    ("{not json", "not valid JSON"),
    (b"\xff\xfe{}", "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ({"nodes": {1, 2}}, "not valid JSON"),
    (_doc([_node(params={"channel": float("nan"), "text": "t"})]), "not valid JSON"),
    ('{"format": NaN}', "not valid JSON"),
    ({**_doc([_GOOD]), "format": "zapier.zap"}, "not a workflow export"),
    ({k: v for k, v in _doc([_GOOD]).items() if k != "format"}, "not a workflow export"),
    ({**_doc([_GOOD]), "version": 2}, "version 1"),
    ({**_doc([_GOOD]), "version": "1"}, "version 1"),
    ({**_doc([_GOOD]), "version": True}, "version 1"),
    (_doc([_GOOD], workspace_id="w1"), "unknown field “workspace_id”"),
    (_doc({"0": _GOOD}), "must list its nodes"),
    (_doc(None), "must list its nodes"),
    (_doc([_GOOD], name=None), "Workflow name must be text"),
    (_doc([_GOOD], name="   "), "Workflow name is required"),
    (_doc([_GOOD], name="n" * 121), "at most 120"),
    (_doc([_GOOD], name=["x"]), "Workflow name must be text"),
    (_doc([_GOOD] * 201), "at most 200 nodes"),
    (_doc([_GOOD, "slack"]), "Node 2 must be a JSON object"),
    (_doc([_GOOD, _node(app="nope")]), "Node 2: unknown app “nope”"),
    (_doc([_node(app={"k": "slack"})]), "Node 1: the app must be named"),
    (_doc([_GOOD, _GOOD, _node(action="drop_tables")]), "Node 3: Slack has no action"),
    (_doc([_node(action=None)]), "Node 1: the action must be named"),
    (_doc([_GOOD, _node(params={"text": "no channel"})]), "Node 2: Channel is required"),
    (_doc([_node(params={"channel": ["#a"], "text": "t"})]), "Node 1: Channel must be text"),
    (_doc([_node(params={"channel": "#a", "text": "t", "x": 1})]), "Unknown parameter"),
    (_doc([_node(params=[["channel", "#a"]])]), "Node 1: Node parameters must be"),
    (
        _doc([_node(params={"channel": {"a": [1, {"b": [None, {"c": []}]}]}, "text": "t"})]),
        "Node 1: Channel must be text",
    ),
    (_doc([_node(params={"channel": "#a", "text": "t" * 2001})]), "at most 2000"),
    (_doc([_GOOD, _node(label="L" * 10_000)]), "Node 2: Label must be at most 120"),
    (_doc([_node(label="bad\nlabel")]), "Node 1: Label contains control characters"),
    (_doc([_node(label=7)]), "Node 1: Label must be text"),
    (_doc([_node(connection="Not A Key!")]), "Node 1: the connection's stable key"),
    (_doc([_node(connection="k" * 81)]), "Node 1: the connection must be a stable key"),
    (_doc([_node(connection={"id": "abc"})]), "Node 1: the connection must be"),
    (_doc([_node(auth_kind="root")]), "Node 1: Slack has no authentication method"),
    (_doc([_node(secret="sk_live_x")]), "Node 1 has an unknown field “secret”"),
    (_doc([_node(params={"channel": "#a", "text": _HUGE})]), "too large"),
    (_HUGE, "too large"),
    (_HUGE.encode(), "too large"),
]


@pytest.mark.parametrize(
    ("document", "message"),
    _BAD_DOCUMENTS,
    ids=[f"{i}-{message}" for i, (_, message) in enumerate(_BAD_DOCUMENTS)],
)
def test_bad_documents_are_invalid_and_write_nothing(
    db: Session, world: World, document: Any, message: str
) -> None:
    before = _counts(db, world)
    with pytest.raises(Invalid) as caught:
        transfer.import_workflow(db, actor=world.actors["builder1"], document=document)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300
    assert _counts(db, world) == before


def test_a_good_document_as_text_and_bytes_imports(db: Session, world: World) -> None:
    """The control for the table above: the same shapes, well-formed, are accepted."""
    doc = _doc([_GOOD, _node(label=None, params={"channel": "#b", "text": "u"})], name="As text")
    first = transfer.import_workflow(db, actor=world.actors["builder1"], document=json.dumps(doc))
    second = transfer.import_workflow(
        db, actor=world.actors["builder1"], document=json.dumps(doc).encode()
    )
    third = transfer.import_workflow(
        db, actor=world.actors["builder1"], document=b"\xef\xbb\xbf" + json.dumps(doc).encode()
    )
    assert (first.name, second.name) == ("As text", "As text (imported)")
    assert third.name == "As text (imported 2)"
    nodes = workflows.list_nodes(db, actor=world.actors["builder1"], workflow_id=first.workflow_id)
    assert [n.label for n in nodes] == ["A node", "Post a message"]
    assert (
        len(
            transfer.export_workflow(
                db, actor=world.actors["builder1"], workflow_id=first.workflow_id
            )["nodes"]
        )
        == 2
    )


@pytest.mark.parametrize("who", ["viewer1", "client1", "viewer2"])
def test_readers_may_not_import(db: Session, world: World, who: str) -> None:
    before, refused = _counts(db, world), _refusals(db)
    with pytest.raises(Forbidden):
        transfer.import_workflow(db, actor=world.actors[who], document=_doc([_GOOD]))
    # Even a bad document gets the role answer first, and nothing is written
    # but the record of each refusal.
    with pytest.raises(Forbidden):
        transfer.import_workflow(db, actor=world.actors[who], document="{bad")
    assert _counts(db, world) == before
    assert _refusals(db) == refused + 2


# --- import: names --------------------------------------------------------------------


def test_name_clash_suffixes_by_default_and_conflicts_when_explicit(
    db: Session, world: World
) -> None:
    builder2 = world.actors["builder2"]
    workflows.create_workflow(db, actor=builder2, name="Clash")
    doc = _doc([_GOOD], name="clash")
    assert transfer.import_workflow(db, actor=builder2, document=doc).name == "clash (imported)"
    assert transfer.import_workflow(db, actor=builder2, document=doc).name == "clash (imported 2)"
    before = _counts(db, world)
    for explicit in ("CLASH", "Clash (Imported)"):
        with pytest.raises(Conflict):
            transfer.import_workflow(db, actor=builder2, document=doc, name=explicit)
    for bad in ("", "x" * 121, 5):
        with pytest.raises(Invalid):
            transfer.import_workflow(db, actor=builder2, document=doc, name=bad)
    assert _counts(db, world) == before
    named = transfer.import_workflow(db, actor=builder2, document=doc, name="  Fresh name ")
    assert named.name == "Fresh name"
    # A long name keeps its suffix within the 120-character limit.
    long_doc = _doc([_GOOD], name="L" * 120)
    transfer.import_workflow(db, actor=builder2, document=long_doc)
    suffixed = transfer.import_workflow(db, actor=builder2, document=long_doc).name
    assert len(suffixed) == 120 and suffixed.endswith(" (imported)")
    # Names are per workspace: the same name is free in ws1.
    assert (
        transfer.import_workflow(db, actor=world.actors["builder1"], document=doc).name == "clash"
    )


def test_a_name_taken_concurrently_is_a_conflict_with_nothing_written(
    db: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer takes the name between the check and the insert: the unique
    constraint answers, the whole import rolls back, and the caller gets Conflict."""
    builder2 = world.actors["builder2"]
    workflows.create_workflow(db, actor=builder2, name="Race")
    monkeypatch.setattr(transfer, "_taken", lambda *_a, **_k: False)
    before = _counts(db, world)
    with pytest.raises(Conflict):
        transfer.import_workflow(db, actor=builder2, document=_doc([_GOOD, _GOOD], name="race"))
    assert _counts(db, world) == before
    assert audit.verify(db, account_id=world.account_id).ok


# --- round trip -----------------------------------------------------------------------


def test_round_trip_gives_the_same_document(db: Session, world: World) -> None:
    admin1, builder1 = world.actors["admin1"], world.actors["builder1"]
    admin2, builder2 = world.actors["admin2"], world.actors["builder2"]
    a = _slack(db, admin1, "RT slack", "rt-slack")
    b = _stripe(db, admin1, "RT stripe", "rt-stripe")
    wf = workflows.create_workflow(db, actor=builder1, name="Round trip")
    _slack_node(db, builder1, wf.id, "One", a)
    node = workflows.add_node(
        db,
        actor=builder1,
        workflow_id=wf.id,
        app="stripe",
        action="create_customer",
        params={"email": "rt@example.test", "name": "Ünïcödé ✓"},
    )
    workflows.set_node_connection(db, actor=builder1, node_id=node.id, connection_id=b.id)
    _slack_node(db, builder1, wf.id, "Three", None)
    original = transfer.export_workflow(db, actor=builder1, workflow_id=wf.id)

    # Same workspace (a copy): binds to the same connections.
    copy = transfer.import_workflow(db, actor=builder1, document=original)
    assert copy.name == "Round trip (imported)"
    again = transfer.export_workflow(db, actor=builder1, workflow_id=copy.workflow_id)
    assert {**again, "name": original["name"]} == original

    # Another workspace with the same keys: the same document again, through JSON text.
    _slack(db, admin2, "RT slack two", "rt-slack")
    _stripe(db, admin2, "RT stripe two", "rt-stripe")
    moved = transfer.import_workflow(db, actor=builder2, document=json.dumps(original))
    assert moved.unbound == [("Three", "slack", None, transfer.NO_KEY)]
    there = transfer.export_workflow(db, actor=builder2, workflow_id=moved.workflow_id)
    assert there == original


# --- CLI ------------------------------------------------------------------------------


def _run(args: list[str], stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(args, out=out, stdin=io.StringIO(stdin))
    return code, out.getvalue()


def test_cli_export_then_import(
    db: Session,
    world: World,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin1, builder1 = world.actors["admin1"], world.actors["builder1"]
    conn = _slack(db, admin1, "CLI slack", "cli-slack")
    _slack(db, world.actors["admin2"], "CLI slack two", "cli-slack")
    wf = workflows.create_workflow(db, actor=builder1, name="CLI flow")
    _slack_node(db, builder1, wf.id, "Ping", conn)
    _slack_node(db, builder1, wf.id, "Loose", None)
    slug = db.exec(select(Account.slug).where(Account.id == world.account_id)).one()
    expected = transfer.export_workflow(db, actor=builder1, workflow_id=wf.id)
    db.rollback()  # release SQLite's write lock: the CLI opens its own connection
    use_database(monkeypatch, db_url)
    base = ["--account", slug]
    as_builder1 = ["--workspace", "one", "--user", builder1.label]
    as_builder2 = ["--workspace", "two", "--user", world.actors["builder2"].label]

    code, out = _run(["workflow", "export", *base, *as_builder1, "--workflow", "cli FLOW"])
    assert code == 0, capsys.readouterr().err
    assert json.loads(out) == expected
    assert wf.id not in out and SLACK_TOKEN not in out
    # Without --user the operator acts, as for the other commands.
    code, operator_out = _run(
        ["workflow", "export", *base, "--workspace", "one", "--workflow", "CLI flow"]
    )
    assert code == 0 and json.loads(operator_out) == json.loads(out)

    path = tmp_path / "flow.json"
    path.write_text(out, encoding="utf-8")
    code, printed = _run(["workflow", "import", *base, *as_builder2, "--file", str(path)])
    assert code == 0, capsys.readouterr().err
    lines = printed.splitlines()
    assert lines[0] == "imported workflow “CLI flow”: 1 bound, 1 unbound"
    assert "bound    Ping → CLI slack two" in lines
    assert any(line.startswith("unbound  Loose (slack, key -)") for line in lines)
    # From standard input, with a name.
    code, printed = _run(
        ["workflow", "import", *base, *as_builder2, "--file", "-", "--name", "From stdin"],
        stdin=out,
    )
    assert code == 0 and "“From stdin”" in printed
    capsys.readouterr()

    before = _counts(db, world)
    viewer2 = ["--workspace", "two", "--user", world.actors["viewer2"].label]
    foreigner = ["--workspace", "one", "--user", world.actors["foreign_admin"].label]
    failures = [
        ([*viewer2, "--file", str(path)], "does not allow"),
        ([*as_builder2, "--file", str(tmp_path / "none")], "Cannot read"),
        ([*foreigner, "--file", str(path)], "not an active member"),
        (["--workspace", "two", "--file", "-"], "not valid JSON"),
    ]
    for args, message in failures:
        code, _ = _run(["workflow", "import", *base, *args], stdin="{oops")
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert message in err and "Traceback" not in err and err.count("\n") == 1
    code, _ = _run(["workflow", "export", *base, "--workspace", "one", "--workflow", "Nope"])
    err = capsys.readouterr().err
    assert code == 2 and "No workflow named" in err and "Traceback" not in err
    assert _counts(db, world) == before
