"""Reading the audit trail (F11): the workspace log and one connection's history.

Writing lives in `audit.py`; this module only pages through what is there, always
through the tenancy helpers, so a workspace admin sees their workspace's events
and nothing else. Filters are validated like any other hostile input.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from connections_app.core import guard
from connections_app.core.audit import Action, AuditEvent
from connections_app.core.catalog import get_catalog
from connections_app.core.clock import utcnow
from connections_app.core.errors import Invalid
from connections_app.core.tenancy import audit as audit_scope
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.tenancy.actor import Actor
from connections_app.core.validation import clean_text

MAX_PAGE_SIZE = 100
_ACTION_WORDS = {
    Action.CREATED: "Created",
    Action.UPDATED: "Edited",
    Action.ROTATED: "Credential rotated",
    Action.TESTED: "Tested",
    Action.REFRESHED: "Token refreshed",
    Action.REFRESH_FAILED: "Refresh failed",
    Action.REAUTHORIZED: "Reauthorized",
    Action.USED: "Used",
    Action.REVOKED: "Revoked",
    Action.DELETED: "Deleted",
    Action.GRANTED: "Granted",
    Action.GRANT_REMOVED: "Grant removed",
    Action.GRANT_CAP_CHANGED: "Spend cap changed",
    Action.ACCESS_DENIED: "Access denied",
    Action.DESTINATION_CHANGED: "Destination changed",
    Action.CREDENTIAL_UNAVAILABLE: "Credential unusable",
    Action.UNSAVED_TESTED: "Tested before saving",
    Action.SIGNED_IN: "Signed in",
    Action.SIGN_IN_FAILED: "Sign-in failed",
    Action.SIGNED_OUT: "Signed out",
    Action.MEMBER_ADDED: "Member added",
    Action.WORKSPACE_CREATED: "Workspace created",
    Action.WORKSPACE_DELETED: "Workspace deleted",
    Action.ACCOUNT_CREATED: "Account created",
    Action.ACCOUNT_DELETED: "Account deleted",
    Action.KEYS_ROTATED: "Keys rotated",
    Action.WORKFLOW_CREATED: "Workflow created",
    Action.WORKFLOW_UPDATED: "Workflow changed",
    Action.WORKFLOW_DELETED: "Workflow deleted",
    Action.RUN_STARTED: "Run started",
    Action.RUN_WAITING: "Run waiting for a connection",
    Action.RUN_RESUMED: "Run resumed",
    Action.RUN_FINISHED: "Run finished",
    Action.CONNECTION_REPLACED: "Connection switched in nodes",
    Action.SPEND_CAP_REACHED: "Spend cap reached",
    Action.PRICE_SET: "Model price set",
    Action.PRICE_REMOVED: "Model price removed",
    Action.INVITATION_CREATED: "Client invited",
    Action.INVITATION_REVOKED: "Invitation revoked",
    Action.INVITATION_ACCEPTED: "Invitation accepted",
    Action.CONNECT_LINK_REQUESTED: "Connect link requested",
    Action.CONNECT_LINK_REVOKED: "Connect link revoked",
    Action.CONNECT_LINK_USED: "Connect link used",
    Action.EMBEDDED_EXPOSED: "Exposed to embedded workflows",
    Action.EMBEDDED_WITHDRAWN: "Withdrawn from embedded workflows",
}


def action_label(action: str) -> str:
    try:
        return _ACTION_WORDS[Action(action)]
    except ValueError:
        return action.replace("_", " ").capitalize()


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    action_label: str
    outcome: str
    connection_id: str | None
    target: str
    summary: str


@dataclass(frozen=True)
class AuditPage:
    items: list[AuditEntry]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _from_to(pair: Any) -> str | None:
    """ "A → B" from a recorded [before, after] pair of names ("none" for nothing)."""
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        return None
    before, after = (str(v) if v else "none" for v in pair)
    return f"{before} → {after}"


def _summary(event: AuditEvent) -> str:
    """Plain words from the detail dict (which never holds a secret)."""
    detail = event.detail or {}
    parts: list[str] = []
    renamed = _from_to(detail.get("renamed"))
    if renamed:
        parts.append(f"renamed {renamed}")
    switched = _from_to(detail.get("switched"))
    if switched:
        parts.append(switched)
    if detail.get("nodes"):
        parts.append(f"in {detail['nodes']} node(s)")
    if detail.get("node_label"):
        verb = next(
            (w for k, w in _NODE_VERBS.items() if k in detail),
            "node",
        )
        parts.append(f"{verb} “{detail['node_label']}”")
    if detail.get("role"):
        parts.append(f"as {str(detail['role']).replace('_', ' ')}")
    if event.action == Action.SIGN_IN_FAILED and detail.get("client"):
        parts.append(f"from {detail['client']}")
    if "changed" in detail:
        parts.append("changed " + ", ".join(str(c).replace("_", " ") for c in detail["changed"]))
    if "fields" in detail:
        parts.append("replaced " + ", ".join(str(f) for f in detail["fields"]))
    if detail.get("destination"):
        parts.append("moved " + ", ".join(str(f) for f in detail["destination"]))
    if detail.get("cleared"):
        parts.append("stored credential cleared")
    if detail.get("entered_again"):
        parts.append("credential entered for the new destination")
    if detail.get("what"):
        parts.append(str(detail["what"]))
    if detail.get("host"):
        parts.append(f"to {detail['host']}")
    if detail.get("suppressed"):
        parts.append(f"{detail['suppressed']} similar event(s) not recorded")
    if detail.get("result"):
        status = f" (HTTP {detail['http_status']})" if detail.get("http_status") else ""
        parts.append(str(detail["result"]).replace("_", " ") + status)
    if detail.get("reason"):
        parts.append(str(detail["reason"]))
    if detail.get("broken_usages"):
        parts.append(f"{detail['broken_usages']} node(s) lost their connection")
    return "; ".join(parts)


_NODE_VERBS = {
    "node_added": "added node",
    "node_removed": "removed node",
    "node_moved": "moved node",
    "node_changed": "changed node",
    "node": "on node",
}


def _target(event: AuditEvent) -> str:
    """The target in words: a connection's label, a workflow's name, a person's email, an
    app's name; never a raw id (older rows without a name say what kind of thing it was)."""
    detail = event.detail or {}
    for key in ("label", "name", "email"):
        if detail.get(key):
            return str(detail[key])
    app = detail.get("app")
    if isinstance(app, str) and app:
        found = get_catalog().find(app)
        return found.name if found else app
    return event.target_type


def _entry(event: AuditEvent) -> AuditEntry:
    return AuditEntry(
        id=event.id or 0,
        at=event.created_at,
        actor=event.actor_label,
        action=event.action,
        action_label=action_label(event.action),
        outcome=event.outcome,
        connection_id=event.connection_id,
        target=_target(event),
        summary=_summary(event),
    )


def _paging(page: Any, page_size: Any) -> tuple[int, int]:
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise Invalid("Page must be a positive whole number.", field="page")
    if not isinstance(page_size, int) or isinstance(page_size, bool):
        raise Invalid("Page size must be a whole number.", field="page_size")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise Invalid(f"Page size must be between 1 and {MAX_PAGE_SIZE}.", field="page_size")
    return page, page_size


def _time(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise Invalid("Times must be timezone-aware.", field=field)
    return value


def _run(db: Session, stmt: Any, page: int, page_size: int) -> AuditPage:
    total = db.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = db.exec(
        stmt.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())  # type: ignore[attr-defined]
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return AuditPage([_entry(r) for r in rows], total, page, page_size)


def workspace_log(
    db: Session,
    *,
    actor: Actor,
    connection_id: Any = None,
    actor_text: Any = None,
    action: Any = None,
    since: Any = None,
    until: Any = None,
    page: Any = 1,
    page_size: Any = 25,
) -> AuditPage:
    """The workspace audit page: admins only, newest first, filtered in the database."""
    if not actor.is_workspace_admin:
        raise guard.refuse(
            db,
            actor,
            "Only workspace admins can see the audit log.",
            what="see the audit log",
            target_type="workspace",
            target_id=actor.workspace_id,
        )
    page, page_size = _paging(page, page_size)
    stmt = audit_scope.audit_query(actor)
    if actor.workspace_id is not None:
        stmt = stmt.where(AuditEvent.workspace_id == actor.workspace_id)
    if connection_id not in (None, ""):
        ids = connection_id if isinstance(connection_id, list | tuple) else [connection_id]
        if len(ids) > MAX_PAGE_SIZE or not all(
            isinstance(i, str) and 0 < len(i) <= 64 for i in ids
        ):
            raise Invalid("Unknown connection.", field="connection_id")
        stmt = stmt.where(AuditEvent.connection_id.in_(ids))  # type: ignore[attr-defined]
    if actor_text not in (None, ""):
        text = clean_text(actor_text, field="actor", label="Actor", max_length=254).lower()
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(func.lower(AuditEvent.actor_label).like(f"%{escaped}%", escape="\\"))
    if action not in (None, ""):
        try:
            stmt = stmt.where(AuditEvent.action == str(Action(action)))
        except ValueError:
            raise Invalid("Unknown action.", field="action") from None
    start, end = _time(since, "since"), _time(until, "until")
    if start and end and start > end:
        raise Invalid(
            "The “from” date is after the “to” date: pick a “from” on or before the “to”.",
            field="since",
        )
    if start:
        stmt = stmt.where(AuditEvent.created_at >= start)
    if end:
        stmt = stmt.where(AuditEvent.created_at <= end)
    return _run(db, stmt, page, page_size)


def connection_history(
    db: Session, *, actor: Actor, connection_id: Any, page: Any = 1, page_size: Any = 10
) -> AuditPage:
    """One connection's history, for those allowed to see it (manage level and admins)."""
    page, page_size = _paging(page, page_size)
    conn = connection_scope.get_connection(db, actor, connection_id)
    stmt = audit_scope.connection_audit_query(actor, conn)
    return _run(db, stmt, page, page_size)


def own_activity(db: Session, *, actor: Actor, page: Any = 1, page_size: Any = 10) -> AuditPage:
    """What this person did in the current workspace, newest first, in the log's words
    (the portal's "Your activity"; `audit_scope.own_activity_query` says which rows)."""
    page, page_size = _paging(page, page_size)
    return _run(db, audit_scope.own_activity_query(actor), page, page_size)


def failures_since(db: Session, *, actor: Actor, connection_id: str, hours: int = 24) -> int:
    """Failed uses, tests and refreshes of a connection the actor can see, in a window."""
    conn = connection_scope.get_connection(db, actor, connection_id)
    cutoff = utcnow() - timedelta(hours=hours)
    events = audit_scope.connection_health_query(actor, conn).where(
        AuditEvent.created_at >= cutoff,
        AuditEvent.outcome == "failure",
        AuditEvent.action.in_(  # type: ignore[attr-defined]
            [str(Action.USED), str(Action.TESTED), str(Action.REFRESH_FAILED)]
        ),
    )
    stmt = select(func.count()).select_from(events.subquery())
    return int(db.exec(stmt).one())


ACTION_CHOICES = [(str(a), _ACTION_WORDS[a]) for a in _ACTION_WORDS]
