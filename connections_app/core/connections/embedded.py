"""F32: "Use for embedded workflows", the switch that exposes one workspace connection to
the workflows the workspace's clients build in their portal.

Manage level (`Op.EMBED`, in the policy table); workspace connections only (an account
connection reaches workspaces through grants, and its use there is the grant's
business). The change is audited on the connection, and its event signals the
workspace, so a client's open picker loses a withdrawn connection at once.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from connections_app.core import audit, guard
from connections_app.core.audit import Action
from connections_app.core.clock import utcnow
from connections_app.core.connections import service
from connections_app.core.connections.models import Scope
from connections_app.core.connections.views import ConnectionView
from connections_app.core.errors import Invalid
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.tenancy.actor import Actor
from connections_app.core.tenancy.policy import Op

ACCOUNT_SCOPE_MESSAGE = (
    "Only workspace connections can be used for embedded workflows; this one belongs to "
    "the account (grant it to a workspace, then use a connection of that workspace)."
)


def set_embedded(db: Session, *, actor: Actor, connection_id: Any, enabled: Any) -> ConnectionView:
    """Expose the connection to client-built workflows, or withdraw it. Bad input and
    refusals change nothing."""
    if not isinstance(enabled, bool):
        raise Invalid("Choose on or off.", field="embedded_enabled")
    conn = connection_scope.get_connection(db, actor, connection_id, for_update=True)
    if conn.scope == Scope.ACCOUNT:
        db.rollback()
        raise Invalid(ACCOUNT_SCOPE_MESSAGE, field="embedded_enabled")
    guard.authorize(db, actor, Op.EMBED, conn)
    if conn.embedded_enabled == enabled:
        db.rollback()
        return service.to_view(actor, conn)
    conn.embedded_enabled, conn.updated_at = enabled, utcnow()
    db.add(conn)
    action = Action.EMBEDDED_EXPOSED if enabled else Action.EMBEDDED_WITHDRAWN
    audit.record_by(db, actor, conn, action, in_actor_workspace=False)
    db.commit()
    return service.to_view(actor, conn)
