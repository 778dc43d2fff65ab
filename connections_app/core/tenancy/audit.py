"""Scoped queries of the audit log: workspace admins read their workspace's events,
account admins their account's; a connection's history needs VIEW_AUDIT on it."""

from __future__ import annotations

from sqlalchemy import false
from sqlmodel import select
from sqlmodel.sql.expression import SelectOfScalar

from connections_app.core.audit import AuditEvent
from connections_app.core.connections.models import Connection
from connections_app.core.tenancy.actor import Actor
from connections_app.core.tenancy.policy import Op, ensure


def audit_query(actor: Actor) -> SelectOfScalar[AuditEvent]:
    """Audit events of the actor's workspace (workspace admins) or account (account admins)."""
    if actor.workspace_id is not None and actor.is_workspace_admin:
        return select(AuditEvent).where(
            AuditEvent.account_id == actor.account_id,
            AuditEvent.workspace_id == actor.workspace_id,
        )
    if actor.is_account_admin:
        return select(AuditEvent).where(AuditEvent.account_id == actor.account_id)
    return select(AuditEvent).where(false())


def connection_audit_query(actor: Actor, conn: Connection) -> SelectOfScalar[AuditEvent]:
    """Events of one connection the actor has already loaded through `get_connection`."""
    ensure(actor, Op.VIEW_AUDIT, conn)
    return select(AuditEvent).where(
        AuditEvent.account_id == actor.account_id, AuditEvent.connection_id == conn.id
    )


def connection_health_query(actor: Actor, conn: Connection) -> SelectOfScalar[AuditEvent]:
    """Events of a connection for its health figures: anyone who may see it may count them."""
    ensure(actor, Op.VIEW, conn)
    return select(AuditEvent).where(
        AuditEvent.account_id == actor.account_id, AuditEvent.connection_id == conn.id
    )


def own_activity_query(actor: Actor) -> SelectOfScalar[AuditEvent]:
    """A person's own events in the current workspace: the rows where they are the actor.

    The portal's "Your activity" (F24). Only the person's own doings, not everything
    that happened to the connections they authorized: those events name the agency's
    people and runs, which a client is not shown anywhere else either.
    """
    if actor.workspace_id is None or actor.user_id is None:
        return select(AuditEvent).where(false())
    return select(AuditEvent).where(
        AuditEvent.account_id == actor.account_id,
        AuditEvent.workspace_id == actor.workspace_id,
        AuditEvent.actor_id == actor.user_id,
    )
