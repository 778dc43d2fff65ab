"""Grants of account connections to workspaces (F9, F25, F26).

An account connection belongs to no workspace; a grant lets one workspace of the
same account use it, optionally with a monthly spend cap (cents). Only account
admins grant, change caps and remove grants. Another account's connection,
workspace or grant id is not found, exactly like one that does not exist, and
nothing is written. Each change writes one audit event in the grant's workspace,
so that workspace's open screens (lists, pickers, nodes) re-read at once, and
signals the account's screens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from connections_app.core import alerts, audit, guard
from connections_app.core.audit import Action
from connections_app.core.clock import utcnow
from connections_app.core.connections.models import Connection, Grant, Scope
from connections_app.core.errors import Conflict, Invalid, NotFound
from connections_app.core.metering import service as metering
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.tenancy import grants as grant_scope
from connections_app.core.tenancy.actor import Actor

MAX_CAP_CENTS = 100_000_000  # $1,000,000 a month: anything above is a typo
_AMOUNT = re.compile(r"^\$?\s*(\d{1,9}(?:,\d{3})*|\d+)(?:\.(\d{1,2}))?$")


@dataclass(frozen=True)
class GrantView:
    """One grant as the account screens show it (never a secret)."""

    id: str
    connection_id: str
    workspace_id: str
    workspace_name: str
    cap_cents: int | None
    spent_micros: int

    @property
    def cap_label(self) -> str:
        return "No cap" if self.cap_cents is None else metering.dollars(self.cap_cents * 10_000)

    @property
    def spent_label(self) -> str:
        return metering.dollars(self.spent_micros)  # as the cap message says it

    @property
    def percent(self) -> int:
        """Spend against the cap, 0–100 (the bar; 0 without a cap)."""
        if not self.cap_cents:
            return 0
        return min(100, self.spent_micros * 100 // (self.cap_cents * 10_000))

    @property
    def over_cap(self) -> bool:
        return self.cap_cents is not None and self.spent_micros >= self.cap_cents * 10_000


@dataclass(frozen=True)
class WorkspaceOption:
    id: str
    name: str


def parse_cap(value: Any) -> int | None:
    """A cap typed in dollars ("5", "5.00", "$1,250.5") → cents; empty → no cap."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid("Enter the cap in dollars, like 5 or 5.00.", field="cap")
    text = str(value).strip()
    match = _AMOUNT.match(text) if len(text) <= 20 else None
    if match is None:
        raise Invalid("Enter the cap in dollars, like 5 or 5.00.", field="cap")
    try:
        amount = Decimal(text.lstrip("$").strip().replace(",", ""))
    except InvalidOperation:
        raise Invalid("Enter the cap in dollars, like 5 or 5.00.", field="cap") from None
    cents = int(amount * 100)
    if cents <= 0:
        raise Invalid("A cap must be more than $0. Leave it empty for no cap.", field="cap")
    if cents > MAX_CAP_CENTS:
        most = metering.dollars(MAX_CAP_CENTS * 10_000)
        raise Invalid(f"A cap can be at most {most}.", field="cap")
    return cents


# --- lookups ------------------------------------------------------------------------


def _account_connection(
    db: Session, actor: Actor, connection_id: Any, *, what: str, for_update: bool = False
) -> Connection:
    """An account connection of the actor's account that the actor may manage.

    Invisible or not an account connection: not found. Visible (a granted one, seen
    by a workspace member) but not an account admin: refused and recorded."""
    conn = connection_scope.get_connection(db, actor, connection_id, for_update=for_update)
    if conn.scope != Scope.ACCOUNT:
        raise NotFound("Connection not found.")
    if not actor.is_account_admin:
        raise guard.refuse(
            db, actor, "Only account admins manage grants.", what=what, connection=conn
        )
    return conn


def _signal(db: Session, conn: Connection, *workspace_ids: str) -> None:
    """Every workspace whose screens show this change, and the account's screens."""
    for workspace_id in workspace_ids:
        alerts.changed_in(db, workspace_id)
    alerts.changed_in_account(db, conn.account_id)


def _audit(
    db: Session, actor: Actor, conn: Connection, action: Action, grant: Grant, detail: dict
) -> None:
    """In the grant's workspace: its audit log shows it, and its screens re-read."""
    audit.record_for_connection(
        db,
        conn,
        action,
        actor_id=actor.user_id,
        actor_label=actor.label,
        workspace_id=grant.workspace_id,
        detail=detail,
    )


def _view(grant: Grant, workspace_name: str, spent: int) -> GrantView:
    return GrantView(
        id=grant.id,
        connection_id=grant.connection_id,
        workspace_id=grant.workspace_id,
        workspace_name=workspace_name,
        cap_cents=grant.monthly_cap_cents,
        spent_micros=spent,
    )


def _cap_words(cents: int | None) -> str:
    return "no cap" if cents is None else metering.dollars(cents * 10_000)


# --- reads --------------------------------------------------------------------------


def list_grants(db: Session, *, actor: Actor, connection_id: Any) -> list[GrantView]:
    """The grants of one account connection, with this month's spend per workspace."""
    conn = _account_connection(db, actor, connection_id, what="see grants")
    return _grant_views(db, actor, conn)


def _grant_views(db: Session, actor: Actor, conn: Connection) -> list[GrantView]:
    rows = grant_scope.grants_with_workspaces(db, actor, conn)
    spent = metering.month_to_date(
        db, conn.account_id, [(conn.id, g.workspace_id) for g, _ in rows]
    )
    return [_view(g, name, spent[(conn.id, g.workspace_id)].spent_micros) for g, name in rows]


def grants_by_connection(
    db: Session, *, actor: Actor, connection_ids: list[str]
) -> dict[str, list[GrantView]]:
    """The grants of several account connections (one screen's page of them)."""
    found: dict[str, list[GrantView]] = {}
    for connection_id in connection_ids:
        conn = _account_connection(db, actor, connection_id, what="see grants")
        found[conn.id] = _grant_views(db, actor, conn)
    return found


def grantable_workspaces(db: Session, *, actor: Actor, connection_id: Any) -> list[WorkspaceOption]:
    """The account's workspaces this connection is not granted to yet (the form's choices)."""
    conn = _account_connection(db, actor, connection_id, what="see grants")
    granted = set(grant_scope.granted_workspace_ids(db, conn))
    return [
        WorkspaceOption(ws.id, ws.name)
        for ws in grant_scope.account_workspaces(db, actor)
        if ws.id not in granted
    ]


# --- changes ------------------------------------------------------------------------


def grant(
    db: Session, *, actor: Actor, connection_id: Any, workspace_id: Any, cap: Any = None
) -> GrantView:
    """Let one workspace of the account use an account connection (F9)."""
    conn = _account_connection(db, actor, connection_id, what="grant a connection", for_update=True)
    workspace = grant_scope.account_workspace(db, actor, workspace_id)
    cents = parse_cap(cap)
    if grant_scope.grant_of(db, conn, workspace.id) is not None:
        raise Conflict(f"“{conn.label}” is already granted to {workspace.name}.", field="workspace")
    row = Grant(
        account_id=conn.account_id,
        connection_id=conn.id,
        workspace_id=workspace.id,
        monthly_cap_cents=cents,
        created_by=actor.user_id,
        created_at=utcnow(),
    )
    db.add(row)
    db.flush()
    _audit(
        db,
        actor,
        conn,
        Action.GRANTED,
        row,
        {"workspace": workspace.name, "cap": _cap_words(cents)},
    )
    _signal(db, conn, workspace.id)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise Conflict(
            f"“{conn.label}” is already granted to {workspace.name}.", field="workspace"
        ) from None
    return _view(row, workspace.name, 0)


def _grant_and_connection(
    db: Session, actor: Actor, grant_id: Any, what: str
) -> tuple[Grant, Connection]:
    row = grant_scope.get_grant(db, actor, grant_id, for_update=True)
    conn = _account_connection(db, actor, row.connection_id, what=what)
    return row, conn


def set_cap(db: Session, *, actor: Actor, grant_id: Any, cap: Any) -> GrantView:
    """Set, change or clear (empty) a grant's monthly cap; the next step sees it."""
    row, conn = _grant_and_connection(db, actor, grant_id, "change a spend cap")
    cents = parse_cap(cap)
    workspace = grant_scope.account_workspace(db, actor, row.workspace_id)
    before = row.monthly_cap_cents
    if cents != before:
        row.monthly_cap_cents = cents
        db.add(row)
        _audit(
            db,
            actor,
            conn,
            Action.GRANT_CAP_CHANGED,
            row,
            {
                "workspace": workspace.name,
                "cap": _cap_words(cents),
                "changed": [_cap_words(before), _cap_words(cents)],
            },
        )
        _signal(db, conn, row.workspace_id)
        db.commit()
    spent = metering.month_to_date(db, conn.account_id, [(conn.id, row.workspace_id)])
    return _view(row, workspace.name, spent[(conn.id, row.workspace_id)].spent_micros)


def remove_grant(db: Session, *, actor: Actor, grant_id: Any) -> str:
    """Take an account connection out of one workspace: its pickers lose it at once,
    its nodes say "No longer granted", its runs refuse. Returns the workspace's name."""
    row, conn = _grant_and_connection(db, actor, grant_id, "remove a grant")
    workspace = grant_scope.account_workspace(db, actor, row.workspace_id)
    _audit(db, actor, conn, Action.GRANT_REMOVED, row, {"workspace": workspace.name})
    _signal(db, conn, row.workspace_id)
    db.delete(row)
    db.commit()
    return workspace.name
