"""Workflows and nodes for the builder (F15, F17, F19 usage side).

Every id arrives as hostile input and is resolved through tenancy (another
workspace's workflow, node or connection is simply not found). A node stores a
connection *reference*; choosing one checks the app, the auth method and that
the actor may use it under the sharing rules. Each change writes one audit event.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlmodel import Session

from connections_app.core import audit, guard
from connections_app.core.catalog import get_catalog
from connections_app.core.clock import utcnow
from connections_app.core.connections import service as connections
from connections_app.core.connections.models import Connection, Status
from connections_app.core.connections.views import Page
from connections_app.core.errors import Conflict, Invalid
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.tenancy import grants as grant_scope
from connections_app.core.tenancy import policy
from connections_app.core.tenancy import workflows as workflow_scope
from connections_app.core.tenancy.actor import Actor
from connections_app.core.tenancy.policy import Op
from connections_app.core.validation import clean_text
from connections_app.core.workflows.models import Node, Workflow
from connections_app.core.workflows.picker import picker_page

PICKER_PAGE = 20
PICKER_COUNT_CAP = 1000  # beyond it the picker says "1,000+" (search narrows it down)


@dataclass(frozen=True)
class WorkflowView:
    id: str
    name: str
    node_count: int
    updated_at: Any


@dataclass(frozen=True)
class NodeView:
    id: str
    position: int
    label: str
    app: str
    app_name: str
    action: str
    action_name: str
    params: dict[str, str]
    connection_id: str | None
    connection_label: str | None
    connection_status: str | None  # None with an id: the connection is missing
    # F9: the id names an account connection of this account that is no longer granted
    # to this workspace ("No longer granted" rather than "missing").
    connection_ungranted: bool = False
    # F32: a client's node whose connection it may no longer use (withdrawn from
    # embedded workflows, or gone): the words its panel shows, from here.
    connection_unavailable: str = ""


UNAVAILABLE_NOTICE = (
    "No longer available: this connection is no longer offered for your workflows. "
    "Pick another below."
)


def _require_builder(db: Session, actor: Actor) -> None:
    guard.require_build(db, actor, "change", what="change workflows")


def _name(value: Any) -> str:
    return clean_text(value, field="name", label="Name", max_length=120)


def _audit(db: Session, actor: Actor, action: str, target: str, detail: dict) -> None:
    """Workflow events name their workflow in words (the log never shows a bare id)."""
    assert actor.workspace_id is not None
    if "name" not in detail:
        row = db.exec(workflow_scope.workflows_query(actor).where(Workflow.id == target)).first()
        detail = {"name": row.name if row is not None else "", **detail}
    audit.record(
        db,
        account_id=actor.account_id,
        workspace_id=actor.workspace_id,
        action=action,
        target_type="workflow",
        target_id=target,
        actor_id=actor.user_id,
        actor_label=actor.label,
        detail=detail,
    )


def _touch(db: Session, workflow_id: str) -> None:
    workflow_scope.touch_workflow(db, workflow_id, now=utcnow())


# --- workflows ----------------------------------------------------------------------


def list_workflows(db: Session, *, actor: Actor) -> list[WorkflowView]:
    rows = db.exec(workflow_scope.workflows_query(actor).order_by(Workflow.name_key)).all()
    counts = workflow_scope.node_counts(db, [w.id for w in rows])
    return [WorkflowView(w.id, w.name, counts.get(w.id, 0), w.updated_at) for w in rows]


def create_workflow(db: Session, *, actor: Actor, name: Any) -> WorkflowView:
    _require_builder(db, actor)
    assert actor.workspace_id is not None
    text = _name(name)
    if workflow_scope.workflow_name_taken(db, actor, text.casefold()):
        raise Conflict(f"A workflow named “{text}” already exists here.", field="name")
    row = Workflow(
        account_id=actor.account_id,
        workspace_id=actor.workspace_id,
        name=text,
        name_key=text.casefold(),
        created_by=actor.user_id,
    )
    db.add(row)
    db.flush()
    _audit(db, actor, audit.Action.WORKFLOW_CREATED, row.id, {"name": text})
    db.commit()
    return WorkflowView(row.id, row.name, 0, row.updated_at)


def rename_workflow(db: Session, *, actor: Actor, workflow_id: Any, name: Any) -> None:
    _require_builder(db, actor)
    row = workflow_scope.get_workflow(db, actor, workflow_id, for_update=True)
    text = _name(name)
    if text == row.name:
        return
    if workflow_scope.workflow_name_taken(db, actor, text.casefold(), exclude_id=row.id):
        raise Conflict(f"A workflow named “{text}” already exists here.", field="name")
    before = row.name
    row.name, row.name_key, row.updated_at = text, text.casefold(), utcnow()
    db.add(row)
    _audit(
        db, actor, audit.Action.WORKFLOW_UPDATED, row.id, {"name": text, "renamed": [before, text]}
    )
    db.commit()


def delete_workflow(db: Session, *, actor: Actor, workflow_id: Any) -> None:
    _require_builder(db, actor)
    row = workflow_scope.get_workflow(db, actor, workflow_id, for_update=True)
    for node in workflow_scope.nodes_of(db, row.id):
        db.delete(node)
    _audit(db, actor, audit.Action.WORKFLOW_DELETED, row.id, {"name": row.name})
    db.delete(row)
    db.commit()


# --- nodes --------------------------------------------------------------------------


def _node_views(db: Session, actor: Actor, nodes: list[Node]) -> list[NodeView]:
    """Views of these nodes, with their connections read in one query (the builder
    re-reads a whole workflow on every alert)."""
    found = node_connections(db, actor, nodes)
    unseen = [n.connection_id for n in nodes if n.connection_id and n.connection_id not in found]
    lost = grant_scope.ungranted_account_connections(db, actor, unseen)
    views = [
        _node_view(node, found.get(node.connection_id or ""), node.connection_id in lost)
        for node in nodes
    ]
    if not actor.is_client:
        return views
    # A client may not tell a withdrawn connection from a deleted one (it never saw it).
    return [
        replace(v, connection_unavailable=UNAVAILABLE_NOTICE)
        if v.connection_id and v.connection_status is None
        else v
        for v in views
    ]


def node_connections(db: Session, actor: Actor, nodes: list[Node]) -> dict[str, Connection]:
    """The connections these nodes reference that the actor can reach, by id (one query):
    for a client, its own and those exposed to embedded workflows right now (F32)."""
    wanted = {n.connection_id for n in nodes if n.connection_id}
    if not wanted:
        return {}
    return {
        c.id: c
        for c in db.exec(
            connection_scope.usable_here_query(actor).where(Connection.id.in_(wanted))  # type: ignore[attr-defined]
        )
    }


def _node_view(node: Node, conn: Connection | None, ungranted: bool = False) -> NodeView:
    app = get_catalog().get(node.app)
    action = app.action(node.action)
    label, status = (conn.label, conn.status) if conn is not None else (None, None)
    return NodeView(
        id=node.id,
        position=node.position,
        label=node.label,
        app=node.app,
        app_name=app.name,
        action=node.action,
        action_name=action.name,
        params=dict(node.params),
        connection_id=node.connection_id,
        connection_label=label,
        connection_status=status,
        connection_ungranted=ungranted,
    )


def get_node(db: Session, *, actor: Actor, node_id: Any) -> NodeView:
    return _node_views(db, actor, [workflow_scope.get_node(db, actor, node_id)])[0]


def list_nodes(db: Session, *, actor: Actor, workflow_id: Any) -> list[NodeView]:
    wf = workflow_scope.get_workflow(db, actor, workflow_id)
    rows = db.exec(
        workflow_scope.nodes_query(actor).where(Node.workflow_id == wf.id).order_by(Node.position)
    ).all()
    return _node_views(db, actor, list(rows))


def add_node(
    db: Session,
    *,
    actor: Actor,
    workflow_id: Any,
    app: Any,
    action: Any,
    params: Any = None,
    label: Any = None,
) -> NodeView:
    _require_builder(db, actor)
    wf = workflow_scope.get_workflow(db, actor, workflow_id, for_update=True)
    app_def = get_catalog().get(app)
    spec = app_def.action(action)
    cleaned = spec.validate_params(params or {})
    text = _name(label) if label not in (None, "") else spec.name
    last = workflow_scope.last_position(db, wf.id)
    node = Node(
        workflow_id=wf.id,
        workspace_id=wf.workspace_id,
        position=(last or 0) + 1,
        label=text,
        app=app_def.key,
        action=spec.key,
        params=cleaned,
    )
    db.add(node)
    db.flush()
    _touch(db, wf.id)
    _audit(
        db,
        actor,
        audit.Action.WORKFLOW_UPDATED,
        wf.id,
        {"name": wf.name, "node_added": node.id, "node_label": node.label, "app": node.app},
    )
    db.commit()
    return _node_views(db, actor, [node])[0]


def update_node_params(db: Session, *, actor: Actor, node_id: Any, params: Any) -> NodeView:
    _require_builder(db, actor)
    node = workflow_scope.get_node(db, actor, node_id, for_update=True)
    spec = get_catalog().get(node.app).action(node.action)
    node.params = spec.validate_params(params)
    node.updated_at = utcnow()
    db.add(node)
    _touch(db, node.workflow_id)
    _audit(
        db,
        actor,
        audit.Action.WORKFLOW_UPDATED,
        node.workflow_id,
        {"node_changed": node.id, "node_label": node.label},
    )
    db.commit()
    return _node_views(db, actor, [node])[0]


def move_node(db: Session, *, actor: Actor, node_id: Any, direction: Any) -> None:
    if direction not in ("up", "down"):
        raise Invalid("Move a node up or down.", field="direction")
    _require_builder(db, actor)
    node = workflow_scope.get_node(db, actor, node_id, for_update=True)
    siblings = workflow_scope.nodes_of(db, node.workflow_id)
    index = next(i for i, n in enumerate(siblings) if n.id == node.id)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(siblings):
        return
    siblings[index], siblings[other] = siblings[other], siblings[index]
    for position, row in enumerate(siblings, start=1):
        if row.position != position:
            row.position = position
            db.add(row)
    _touch(db, node.workflow_id)
    _audit(
        db,
        actor,
        audit.Action.WORKFLOW_UPDATED,
        node.workflow_id,
        {"node_moved": node.id, "node_label": node.label},
    )
    db.commit()


def remove_node(db: Session, *, actor: Actor, node_id: Any) -> None:
    _require_builder(db, actor)
    node = workflow_scope.get_node(db, actor, node_id, for_update=True)
    workflow_id = node.workflow_id
    db.delete(node)
    db.flush()
    for position, row in enumerate(
        workflow_scope.nodes_of(db, workflow_id),
        start=1,
    ):
        row.position = position
        db.add(row)
    _touch(db, workflow_id)
    _audit(
        db,
        actor,
        audit.Action.WORKFLOW_UPDATED,
        workflow_id,
        {"node_removed": node.id, "node_label": node.label},
    )
    db.commit()


# --- connections on nodes (F15, F17) ------------------------------------------------


def picker(db: Session, *, actor: Actor, node_id: Any, search: Any = None, page: Any = 1) -> Page:
    """One page of the connections this node may use; searched in the database."""
    node = workflow_scope.get_node(db, actor, node_id)
    if not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= 10_000:
        raise Invalid("Page must be a whole number from 1 to 10,000.", field="page")
    filters = []
    if node.auth_kind:
        filters.append(Connection.kind == node.auth_kind)
    if search not in (None, ""):
        text = clean_text(search, field="search", label="Search", max_length=100)
        escaped = connections.label_key(text).replace("\\", "\\\\")
        escaped = escaped.replace("%", "\\%").replace("_", "\\_")
        filters.append(Connection.label_key.like(f"%{escaped}%", escape="\\"))  # type: ignore[attr-defined]
    total, rows, following = picker_page(
        db,
        actor,
        app=node.app,
        filters=filters,
        page=page,
        page_size=PICKER_PAGE,
        count_cap=PICKER_COUNT_CAP,
    )
    name = connections.granted_by(db, actor, rows)
    views = [connections.to_view(actor, c, account_name=name) for c in rows]
    if total > PICKER_COUNT_CAP:
        return Page(views, PICKER_COUNT_CAP, page, PICKER_PAGE, more=True, following=following)
    return Page(views, total, page, PICKER_PAGE, following=following)


def _usable(db: Session, actor: Actor, connection_id: Any, app: str) -> Connection:
    conn = connection_scope.get_connection_to_use(db, actor, connection_id)
    if not policy.check(actor, Op.USE, conn):
        raise guard.refuse(
            db,
            actor,
            "You may not use this connection in workflows.",
            what="use in workflows",
            connection=conn,
        )
    if not grant_scope.granted_here(db, actor, conn):
        raise Invalid(
            f"“{conn.label}” is not granted to this workspace. Grant it on the account's "
            "connections screen first.",
            field="connection",
        )
    if conn.app != app:
        raise Invalid("That connection is for another app.", field="connection")
    if conn.status == Status.REVOKED:
        raise Invalid("That connection was revoked; reconnect or pick another.")
    return conn


def set_node_connection(db: Session, *, actor: Actor, node_id: Any, connection_id: Any) -> NodeView:
    _require_builder(db, actor)
    node = workflow_scope.get_node(db, actor, node_id, for_update=True)
    before = _label_of(node_connections(db, actor, [node]).get(node.connection_id or ""), node)
    after: Connection | None = None
    if connection_id is None:
        node.connection_id = None
    else:
        conn = _usable(db, actor, connection_id, node.app)
        if node.auth_kind and conn.kind != node.auth_kind:
            raise Invalid("That connection uses another authentication method.")
        node.connection_id, after = conn.id, conn
    node.updated_at = utcnow()
    db.add(node)
    _touch(db, node.workflow_id)
    _audit(
        db,
        actor,
        audit.Action.WORKFLOW_UPDATED,
        node.workflow_id,
        {
            "node": node.id,
            "node_label": node.label,
            "connection": node.connection_id,
            "switched": [before, after.label if after else ""],
        },
    )
    db.commit()
    return _node_views(db, actor, [node])[0]


def _label_of(conn: Connection | None, node: Node) -> str:
    """The previous connection of a node in words ("" for none picked)."""
    if conn is not None:
        return conn.label
    return "a missing connection" if node.connection_id else ""


def replace_connection(
    db: Session, *, actor: Actor, from_connection_id: Any, to_connection_id: Any
) -> int:
    """F17: every node of this workspace that uses X now uses Y; one audited action.
    Workspace-wide, so not for clients (their world is their own workflows)."""
    _require_builder(db, actor)
    if not policy.can_change_workspace_wide(actor):
        raise guard.refuse(
            db,
            actor,
            "Your role does not allow you to switch a connection in every node.",
            what="switch a connection in every node",
            target_type="workspace",
            target_id=actor.workspace_id,
        )
    source = connection_scope.get_connection(db, actor, from_connection_id)
    target = _usable(db, actor, to_connection_id, source.app)
    if source.id == target.id:
        raise Invalid("Pick a different connection to switch to.")
    nodes = db.exec(
        workflow_scope.nodes_query(actor).where(Node.connection_id == source.id).with_for_update()
    ).all()
    for node in nodes:
        node.connection_id = target.id
        node.updated_at = utcnow()
        db.add(node)
    assert actor.workspace_id is not None
    audit.record(
        db,
        account_id=actor.account_id,
        workspace_id=actor.workspace_id,
        connection_id=target.id,
        action=audit.Action.CONNECTION_REPLACED,
        target_type="connection",
        target_id=target.id,
        actor_id=actor.user_id,
        actor_label=actor.label,
        detail={
            "label": target.label,
            "from": source.id,
            "to": target.id,
            "switched": [source.label, target.label],
            "nodes": len(nodes),
        },
    )
    db.commit()
    return len(nodes)
