"""The client portal's read-models (F24): the connections a client authorized, with the
names of the workflows that use them, and the client's own activity.

Only clients are answered: for anyone else "the connections I authorized" would be a
list of the workspace under the wrong name, so the refusal is recorded like any other.
What a client may do with each row is the policy's answer (`ConnectionView.actions`:
Reconnect or Rotate, and Revoke), never the page's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from connections_app.core import audit_log
from connections_app.core.audit_log import AuditPage
from connections_app.core.connections import service as connections
from connections_app.core.connections.views import ConnectionView
from connections_app.core.tenancy import portal as portal_scope
from connections_app.core.tenancy.actor import Actor


@dataclass(frozen=True)
class PortalConnection:
    connection: ConnectionView
    workflows: list[str]  # names only: a client sees no workflow's configuration


@dataclass(frozen=True)
class PortalPage:
    items: list[PortalConnection]
    total: int
    page: int
    page_size: int

    @property
    def has_next(self) -> bool:
        return self.page * self.page_size < self.total


def my_connections(db: Session, *, actor: Actor, page: Any = 1, page_size: Any = 25) -> PortalPage:
    """One page of what this client authorized here, each with the workflows using it."""
    connections.require_client(db, actor)
    found = connections.list_connections(
        db, actor=actor, page=page, page_size=page_size, authorized_by_me=True
    )
    names = portal_scope.workflow_names_using(db, actor, [v.id for v in found.items])
    items = [PortalConnection(v, names.get(v.id, [])) for v in found.items]
    return PortalPage(items, found.total, found.page, found.page_size)


def my_activity(db: Session, *, actor: Actor, page: Any = 1, page_size: Any = 10) -> AuditPage:
    """This client's own events in the workspace, newest first, in the log's words."""
    connections.require_client(db, actor)
    return audit_log.own_activity(db, actor=actor, page=page, page_size=page_size)
