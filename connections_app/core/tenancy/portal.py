"""Scoped queries of the client portal (F24): what a client may know about the
workflows of the workspace — the names of those that use a connection it can see,
nothing of their configuration."""

from __future__ import annotations

from sqlalchemy import false
from sqlmodel import Session, select

from connections_app.core.connections.models import Connection
from connections_app.core.tenancy.actor import Actor
from connections_app.core.tenancy.connections import workspace_connections_predicate
from connections_app.core.workflows.models import Node, Workflow


def workflow_names_using(
    db: Session, actor: Actor, connection_ids: list[str]
) -> dict[str, list[str]]:
    """For each of these connections the actor can see (for a client: those it
    authorized), the names of this workspace's workflows whose nodes use it, sorted.

    Ids the actor cannot see are left out, like ids that do not exist.
    """
    ids = sorted({i for i in connection_ids if isinstance(i, str) and 0 < len(i) <= 64})
    if not ids or actor.workspace_id is None:
        return {}
    rows = db.exec(
        select(Node.connection_id, Workflow.name)
        .join(Workflow, Workflow.id == Node.workflow_id)  # type: ignore[arg-type]
        .join(Connection, Connection.id == Node.connection_id)  # type: ignore[arg-type]
        .where(
            Node.connection_id.in_(ids),  # type: ignore[union-attr]
            Node.workspace_id == actor.workspace_id,
            Workflow.workspace_id == actor.workspace_id,
            workspace_connections_predicate(actor) if actor.role is not None else false(),
        )
        .distinct()
        .order_by(Workflow.name)
    ).all()
    names: dict[str, list[str]] = {}
    for conn_id, name in rows:
        names.setdefault(conn_id, []).append(name)
    return names
