"""Scoped queries of workflows and their nodes (F15, F19, F32).

Workflows belong to one workspace; every member sees them, builders and admins
change them (`policy.can_build`). A client of the workspace reaches only the
workflows it created itself (its portal's Workflows page); they stay the
workspace's, so its members see them too. Foreign ids answer not-found, like
connections.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, update
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from connections_app.core.connections.models import Connection
from connections_app.core.tenancy._rows import one, valid_id
from connections_app.core.tenancy.actor import Actor, Role
from connections_app.core.workflows.models import Node, Workflow


def _workflows_predicate(actor: Actor) -> ColumnElement[bool]:
    if actor.workspace_id is None:
        return false()
    here = Workflow.workspace_id == actor.workspace_id
    if actor.role == Role.CLIENT:
        if actor.user_id is None:
            return false()
        return and_(here, Workflow.created_by == actor.user_id)
    return here


def workflows_query(actor: Actor) -> SelectOfScalar[Workflow]:
    return select(Workflow).where(_workflows_predicate(actor))


def get_workflow(
    db: Session, actor: Actor, workflow_id: Any, *, for_update: bool = False
) -> Workflow:
    wid = valid_id(workflow_id, "Workflow")
    return one(db, workflows_query(actor).where(Workflow.id == wid), "Workflow", for_update)


def nodes_query(actor: Actor) -> SelectOfScalar[Node]:
    if actor.workspace_id is None:
        return select(Node).where(false())
    here = Node.workspace_id == actor.workspace_id
    if actor.role == Role.CLIENT:  # the nodes of its own workflows only
        own = select(Workflow.id).where(_workflows_predicate(actor))
        return select(Node).where(here, Node.workflow_id.in_(own))  # type: ignore[attr-defined]
    return select(Node).where(here)


def get_node(db: Session, actor: Actor, node_id: Any, *, for_update: bool = False) -> Node:
    nid = valid_id(node_id, "Node")
    return one(db, nodes_query(actor).where(Node.id == nid), "Node", for_update)


def workflow_name_taken(
    db: Session, actor: Actor, name_key: str, *, exclude_id: str | None = None
) -> bool:
    """Is this name taken in the actor's workspace (names are unique per workspace, and a
    client's workflows share the namespace with everyone else's)? The answer leaks no row."""
    if actor.workspace_id is None:
        return False
    stmt = select(Workflow.id).where(
        Workflow.workspace_id == actor.workspace_id, Workflow.name_key == name_key
    )
    if exclude_id is not None:
        stmt = stmt.where(Workflow.id != exclude_id)
    return db.exec(stmt).first() is not None


def nodes_using(db: Session, conn: Connection) -> list[tuple[Node, Workflow]]:
    """F19: every node that references a connection the caller already resolved through
    `get_connection`, with its workflow, in every workspace of the connection's account
    (an account connection is granted to several). A plain query, not a registry, so no
    entry point can forget to load it."""
    return list(
        db.exec(
            select(Node, Workflow)
            .join(Workflow, Workflow.id == Node.workflow_id)  # type: ignore[arg-type]
            .where(
                Node.connection_id == conn.id,
                Node.workspace_id.in_(  # type: ignore[attr-defined]
                    select(Workflow.workspace_id).where(Workflow.account_id == conn.account_id)
                ),
            )
            .order_by(Workflow.name_key, Node.position)
        ).all()
    )


def nodes_of(db: Session, workflow_id: str) -> list[Node]:
    """The nodes of a workflow the caller resolved through `get_workflow`/`get_node`, in order."""
    return list(
        db.exec(select(Node).where(Node.workflow_id == workflow_id).order_by(Node.position))
    )


def node_counts(db: Session, workflow_ids: list[str]) -> dict[str, int]:
    """Node count per workflow, for workflows the caller listed through `workflows_query`."""
    return dict(
        db.exec(
            select(Node.workflow_id, func.count())
            .where(Node.workflow_id.in_(workflow_ids))  # type: ignore[attr-defined]
            .group_by(Node.workflow_id)
        ).all()
    )


def last_position(db: Session, workflow_id: str) -> int | None:
    """The highest node position of a workflow the caller resolved."""
    return db.exec(select(func.max(Node.position)).where(Node.workflow_id == workflow_id)).one()


def touch_workflow(db: Session, workflow_id: str, *, now: datetime) -> None:
    """Mark a resolved workflow changed (its list shows the newest first)."""
    db.execute(update(Workflow).where(Workflow.id == workflow_id).values(updated_at=now))  # type: ignore[arg-type]
