"""Append-only, hash-chained audit trail (F11, invariant 7).

Each account has one chain: event N stores the hash of event N-1, and
`audit_heads` holds the newest (seq, hash). Appending locks the head row, so two
writers cannot fork the chain, and `(account_id, seq)` is unique as a backstop.
`verify` recomputes every hash: an edited, deleted or reordered row breaks it.
Events are written in the caller's transaction, never committed here, so a
mutation and its event land together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy import JSON, Column, Index, UniqueConstraint, bindparam, insert, update
from sqlmodel import Field, Session, SQLModel, select

from connections_app.core import alerts, redaction
from connections_app.core.clock import utcnow

GENESIS = "0" * 64
_FORBIDDEN_DETAIL_KEYS = ("secret", "password", "token", "api_key", "apikey", "dsn", "credential")


class Action(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    ROTATED = "rotated"
    TESTED = "tested"
    REFRESHED = "refreshed"
    REFRESH_FAILED = "refresh_failed"
    REAUTHORIZED = "reauthorized"
    USED = "used"
    REVOKED = "revoked"
    DELETED = "deleted"
    GRANTED = "granted"
    GRANT_REMOVED = "grant_removed"
    GRANT_CAP_CHANGED = "grant_cap_changed"
    ACCESS_DENIED = "access_denied"
    DESTINATION_CHANGED = "destination_changed"
    CREDENTIAL_UNAVAILABLE = "credential_unavailable"
    UNSAVED_TESTED = "unsaved_tested"
    SIGNED_IN = "signed_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGNED_OUT = "signed_out"
    MEMBER_ADDED = "member_added"
    WORKSPACE_CREATED = "workspace_created"
    WORKSPACE_DELETED = "workspace_deleted"
    ACCOUNT_CREATED = "account_created"
    ACCOUNT_DELETED = "account_deleted"
    KEYS_ROTATED = "keys_rotated"
    WORKFLOW_CREATED = "workflow_created"
    WORKFLOW_UPDATED = "workflow_updated"
    WORKFLOW_DELETED = "workflow_deleted"
    CONNECTION_REPLACED = "connection_replaced"
    RUN_STARTED = "run_started"
    RUN_WAITING = "run_waiting"
    RUN_RESUMED = "run_resumed"
    RUN_FINISHED = "run_finished"
    SPEND_CAP_REACHED = "spend_cap_reached"
    PRICE_SET = "price_set"
    PRICE_REMOVED = "price_removed"
    INVITATION_CREATED = "invitation_created"
    INVITATION_REVOKED = "invitation_revoked"
    INVITATION_ACCEPTED = "invitation_accepted"
    CONNECT_LINK_REQUESTED = "connect_link_requested"
    CONNECT_LINK_REVOKED = "connect_link_revoked"
    CONNECT_LINK_USED = "connect_link_used"
    EMBEDDED_EXPOSED = "embedded_exposed"
    EMBEDDED_WITHDRAWN = "embedded_withdrawn"


# Events that change nothing a screen shows (or would flood every tab with reloads:
# refusals, sign-ins, each use by a run step, whose run signals when it ends).
_NOT_A_CHANGE = frozenset(
    {
        Action.ACCESS_DENIED,
        Action.SIGNED_IN,
        Action.SIGN_IN_FAILED,
        Action.SIGNED_OUT,
        Action.USED,
        Action.UNSAVED_TESTED,
    }
)


def _signals(action: str, actor_id: str | None, detail: dict[str, Any]) -> bool:
    """Does this event change what an open screen shows enough to reload every tab?

    The background refresher's routine work (a token renewed, a transient failure
    backed off) changes no status: signalling it would reload every tab of a large
    workspace every few seconds. A person's refresh, a permanent failure, and every
    other change do signal."""
    if action in _NOT_A_CHANGE:
        return False
    if action == Action.REFRESHED and actor_id is None:
        return False
    return not (action == Action.REFRESH_FAILED and detail.get("permanent") is False)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("account_id", "seq", name="uq_audit_seq"),
        Index("ix_audit_workspace_time", "workspace_id", "created_at"),
        Index("ix_audit_connection_time", "connection_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(max_length=32)
    seq: int
    workspace_id: str | None = Field(default=None, max_length=32)
    connection_id: str | None = Field(default=None, max_length=32)
    actor_id: str | None = Field(default=None, max_length=32)
    actor_label: str = Field(max_length=254)
    action: str = Field(max_length=32)
    target_type: str = Field(max_length=32)
    target_id: str | None = Field(default=None, max_length=64)
    outcome: str = Field(default="success", max_length=16)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    __tablename__ = "audit_heads"

    account_id: str = Field(primary_key=True, max_length=32)
    seq: int = 0
    hash: str = Field(default=GENESIS, max_length=64)


def _clean_detail(detail: dict[str, Any] | None) -> dict[str, Any]:
    """Only flat, non-secret facts go into an audit row."""
    cleaned: dict[str, Any] = {}
    for key, value in (detail or {}).items():
        if any(word in key.lower() for word in _FORBIDDEN_DETAIL_KEYS):
            raise ValueError(f"audit detail key {key!r} looks secret-bearing")
        if isinstance(value, str):
            cleaned[key] = redaction.scrub(value)[:500]
        elif value is None or isinstance(value, bool | int | float):
            cleaned[key] = value
        elif isinstance(value, list | tuple):
            cleaned[key] = [redaction.scrub(str(v))[:200] for v in value][:50]
        else:
            cleaned[key] = redaction.scrub(str(value))[:500]
    return cleaned


def _digest(event: AuditEvent) -> str:
    body = {
        "account_id": event.account_id,
        "seq": event.seq,
        "workspace_id": event.workspace_id,
        "connection_id": event.connection_id,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "outcome": event.outcome,
        "detail": event.detail,
        "created_at": event.created_at.isoformat(timespec="microseconds"),
        "prev_hash": event.prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record(
    db: Session,
    *,
    account_id: str,
    action: str,
    target_type: str,
    actor_id: str | None,
    actor_label: str,
    workspace_id: str | None = None,
    connection_id: str | None = None,
    target_id: str | None = None,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the account's chain inside the caller's transaction."""
    head = _lock_head(db, account_id)
    event = AuditEvent(
        account_id=account_id,
        seq=head.seq + 1,
        workspace_id=workspace_id,
        connection_id=connection_id,
        actor_id=actor_id,
        actor_label=actor_label[:254],
        action=str(action),
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        detail=_clean_detail(detail),
        created_at=utcnow(),
        prev_hash=head.hash,
        hash="",
    )
    event.hash = _digest(event)
    head.seq = event.seq
    head.hash = event.hash
    db.add(event)
    db.add(head)
    db.flush()
    if _signals(str(action), actor_id, event.detail):
        alerts.changed_in(db, workspace_id)  # every open view of it re-reads after commit
    return event


# --- the same append without the ORM (hot paths: a run step's use, its run's events) ---

_EVENTS: Any = AuditEvent.__table__
_HEADS: Any = AuditHead.__table__
_HEAD_ROW_FOR_UPDATE = (
    select(_HEADS.c.seq, _HEADS.c.hash)
    .where(_HEADS.c.account_id == bindparam("account"))
    .with_for_update()
)
_HEAD_MOVE = (
    update(_HEADS)
    .where(_HEADS.c.account_id == bindparam("account"))
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_EVENT_INSERT = insert(_EVENTS)


def append(db: Session, **fields: Any) -> None:
    """`record` (the same keyword arguments) in three Core statements on the session's
    connection, no ORM object.

    Same event, same chain: the head row is read FOR UPDATE (SQLite: the transaction
    began IMMEDIATE), the event inserted with the next seq and its hash, the head moved,
    all in the caller's transaction. Everything but the head is worked out before the
    first statement, so the chain's lock is held for the three statements only. An
    ORM `record` later in the same transaction reads the head afresh (FOR UPDATE
    populates existing rows), so the two can be mixed.
    """
    optional = {"workspace_id": None, "connection_id": None, "target_id": None}
    event = SimpleNamespace(**{**optional, "outcome": "success", **fields})
    event.actor_label = event.actor_label[:254]
    event.action = str(event.action)
    event.detail = _clean_detail(getattr(event, "detail", None))
    event.created_at = utcnow()
    event.seq, event.prev_hash = 0, GENESIS
    account_id = event.account_id
    connection = db.connection()
    head = connection.execute(_HEAD_ROW_FOR_UPDATE, {"account": account_id}).first()
    if head is None:
        connection.execute(insert(_HEADS).values(account_id=account_id, seq=0, hash=GENESIS))
    else:
        event.seq, event.prev_hash = head[0], head[1]
    event.seq += 1
    digest = _digest(event)  # type: ignore[arg-type]
    connection.execute(_EVENT_INSERT, {**vars(event), "hash": digest})
    moved = {"account": account_id, "new_seq": event.seq, "new_hash": digest}
    connection.execute(_HEAD_MOVE, moved)
    if _signals(event.action, event.actor_id, event.detail):
        alerts.changed_in(db, event.workspace_id)


def record_for_connection(
    db: Session,
    conn: Any,
    action: str,
    *,
    actor_id: str | None,
    actor_label: str,
    workspace_id: str | None = None,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """One event about a connection row: its account, workspace, id, label and app."""
    return record(
        db,
        action=action,
        actor_id=actor_id,
        actor_label=actor_label,
        outcome=outcome,
        **_about_connection(conn, workspace_id, detail),
    )


def _about_connection(
    conn: Any, workspace_id: str | None, detail: dict[str, Any] | None
) -> dict[str, Any]:
    """The fields of an event about a connection row (shared by `record_for_connection`
    and `append_by`)."""
    return {
        "account_id": conn.account_id,
        "workspace_id": workspace_id or conn.workspace_id,
        "connection_id": conn.id,
        "target_type": "connection",
        "target_id": conn.id,
        "detail": {"label": conn.label, "app": conn.app, **(detail or {})},
    }


class Person(Protocol):
    """Who did it, as the session's actor carries it (no import of tenancy here)."""

    @property
    def user_id(self) -> str | None: ...

    @property
    def label(self) -> str: ...

    @property
    def workspace_id(self) -> str | None: ...


def record_by(
    db: Session,
    actor: Person,
    conn: Any,
    action: str,
    *,
    in_actor_workspace: bool = True,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """An event about a connection credited to the person who did it; it lands in that
    person's workspace, or in the connection's with `in_actor_workspace=False`."""
    return record_for_connection(
        db,
        conn,
        action,
        actor_id=actor.user_id,
        actor_label=actor.label,
        workspace_id=actor.workspace_id if in_actor_workspace else None,
        outcome=outcome,
        detail=detail,
    )


def append_by(
    db: Session, actor: Person, conn: Any, action: str, *, outcome: str = "success"
) -> None:
    """`record_by` (in the actor's workspace) through `append`: a run step's use."""
    append(
        db,
        action=action,
        actor_id=actor.user_id,
        actor_label=actor.label,
        outcome=outcome,
        **_about_connection(conn, actor.workspace_id, None),
    )


# Built once: every audited mutation runs it. FOR UPDATE serialises appenders on
# PostgreSQL; SQLite transactions begin IMMEDIATE.
_HEAD_FOR_UPDATE = (
    select(AuditHead).where(AuditHead.account_id == bindparam("account_id")).with_for_update()
)


def _lock_head(db: Session, account_id: str) -> AuditHead:
    head = db.exec(_HEAD_FOR_UPDATE, params={"account_id": account_id}).first()
    if head is None:
        head = AuditHead(account_id=account_id)
        db.add(head)
        db.flush()
    return head


@dataclass(frozen=True)
class VerifyResult:
    account_id: str
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""


def verify(db: Session, *, account_id: str) -> VerifyResult:
    """Walk the chain: each row's hash, each link, no gaps, and the head at the end."""
    expected_prev = GENESIS
    expected_seq = 1
    checked = 0
    rows = db.exec(
        select(AuditEvent).where(AuditEvent.account_id == account_id).order_by(AuditEvent.seq)
    )
    for event in rows:
        if event.seq != expected_seq:
            return VerifyResult(account_id, False, checked, expected_seq, "missing event")
        if event.prev_hash != expected_prev:
            return VerifyResult(account_id, False, checked, event.seq, "broken link")
        if _digest(event) != event.hash:
            return VerifyResult(account_id, False, checked, event.seq, "edited event")
        expected_prev = event.hash
        expected_seq += 1
        checked += 1
    head = db.get(AuditHead, account_id)
    if head is not None and (head.seq != checked or head.hash != expected_prev):
        return VerifyResult(account_id, False, checked, checked + 1, "events removed at the end")
    return VerifyResult(account_id, True, checked)
