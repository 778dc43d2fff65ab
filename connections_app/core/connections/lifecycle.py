"""Every status transition of a connection, and selecting one on a node.

The services (forms, tokens, the OAuth callback, the run-time path) decide *when*;
this module is the one place that says *what* each transition does to the row, so
a status never changes without its reason and its refresh bookkeeping. The caller
holds the row (loaded through tenancy), records the audit event and commits.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from connections_app.core import alerts, guard
from connections_app.core.clock import utcnow
from connections_app.core.connections.models import Connection, Scope, Status
from connections_app.core.errors import Invalid
from connections_app.core.tenancy import grants as grant_scope
from connections_app.core.tenancy import workflows as workflow_scope
from connections_app.core.tenancy.actor import Actor
from connections_app.core.tenancy.policy import Op, can_build, check
from connections_app.core.workflows.models import Node


def mark_active(conn: Connection) -> None:
    """Usable again: a new credential, a passing test, a reauthorization."""
    conn.status, conn.status_reason = Status.ACTIVE, None


def mark_error(conn: Connection, reason: str, *, stop_refresh: bool = False) -> None:
    """Broken, with the reason people will read; `stop_refresh` when only a person can
    fix it (a refused refresh token), so the refresher stops asking."""
    conn.status, conn.status_reason = Status.ERROR, reason[:500]
    if stop_refresh:
        conn.next_refresh_at = None


def mark_pending(conn: Connection, reason: str) -> None:
    """Waiting for a credential (the destination changed)."""
    conn.status, conn.status_reason = Status.PENDING, reason[:500]


def mark_revoked(conn: Connection, *, by: str) -> None:
    """Tokens gone for good: nothing to refresh, no expiry to show."""
    conn.status, conn.status_reason = Status.REVOKED, "Revoked by " + by
    conn.next_refresh_at = None
    conn.token_expires_at = None
    conn.updated_at = utcnow()


def node_to_select(
    db: Session, actor: Actor, node: Any, *, app: str, kind: str | None, what: str
) -> Node | None:
    """The node a connection being made will be selected on (F16), checked before anything
    is written (bad input saves nothing): the builder role, a node of this workspace, its
    app and — when known — its authentication method."""
    if node in (None, ""):
        return None
    if not can_build(actor):
        raise guard.refuse(
            db,
            actor,
            "Your role does not allow you to change workflows.",
            what=what,
            target_type="node",
            target_id=str(node)[:64],
        )
    found = workflow_scope.get_node(db, actor, node, for_update=True)
    if found.app != app:
        raise Invalid("That node uses another app.", field="node")
    if kind is not None and found.auth_kind and found.auth_kind != kind:
        raise Invalid("That node uses another authentication method.", field="node")
    return found


def select_on_node(db: Session, actor: Actor, node: Node | None, conn: Connection) -> dict:
    """Select `conn` on `node` in the caller's transaction; returns the audit detail.

    Checked again here (an OAuth node may have gone, or changed app, while the person
    was at the provider): a node that cannot take it is left as it was.
    """
    if node is None or not can_build(actor):
        return {}
    if node.app != conn.app or not check(actor, Op.USE, conn):
        return {}
    if node.auth_kind and node.auth_kind != conn.kind:
        return {}
    now = utcnow()
    node.connection_id, node.updated_at = conn.id, now
    db.add(node)
    workflow_scope.touch_workflow(db, node.workflow_id, now=now)
    return {"node": node.id}


def signal_if_account(db: Session, conn: Connection) -> None:
    """An account connection changed (created, reconnected, refreshed, broken, revoked…):
    every workspace it is granted to shows it (lists, pickers, nodes, the banner), and so
    do the account's own screens; its audit event alone would reach no workspace. A
    workspace connection's audit event signals its workspace already."""
    if conn.scope != Scope.ACCOUNT:
        return
    for workspace_id in grant_scope.granted_workspace_ids(db, conn):
        alerts.changed_in(db, workspace_id)
    alerts.changed_in_account(db, conn.account_id)
