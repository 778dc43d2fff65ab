"""The queries of deleting an account (F7 crypto-shredding, "same for an account"): the
account's workspaces, what it holds at account level, and removing its rows.

Only `identity.account_deletion` calls these, after it has checked that the actor is an
admin of the account. Each workspace goes the way `workspace_deletion.delete_rows`
takes it; then the account-level rows. Audit events, audit heads and the destroyed
data-key rows stay: the first two are the record that it happened (names and counts,
never secrets), the last the tombstone that stops a shredded tenant getting a key again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete
from sqlmodel import Session, func, select

from connections_app.core.connections.models import Connection as ConnectionRow
from connections_app.core.connections.models import ConnectionSecret, Grant
from connections_app.core.identity.models import Account, AccountAdmin, Workspace
from connections_app.core.metering.models import GrantSpend, ModelPrice
from connections_app.core.oauth.models import AccountOAuthApp, OAuthFlow
from connections_app.core.tenancy import workspace_deletion
from connections_app.core.tenancy._rows import one, valid_id
from connections_app.core.tenancy.actor import Actor


def own_account(
    db: Session, actor: Actor, account_id: object, *, for_update: bool = False
) -> Account:
    """The actor's own account; any other id (another account's included) is not found."""
    wanted = valid_id(account_id, "Account")
    stmt = select(Account).where(Account.id == wanted, Account.id == actor.account_id)
    return one(db, stmt, "Account", for_update)


@dataclass(frozen=True)
class AccountHoldings:
    """Account-level rows (counts only, never contents)."""

    account_connections: int
    oauth_apps: int
    admins: int


def holdings(db: Session, account: Account) -> AccountHoldings:
    account_scope = (
        select(func.count())
        .select_from(ConnectionRow)
        .where(
            ConnectionRow.account_id == account.id,
            ConnectionRow.workspace_id.is_(None),  # type: ignore[union-attr]
        )
    )
    return AccountHoldings(
        account_connections=int(db.exec(account_scope).one()),
        oauth_apps=workspace_deletion.count_where(db, AccountOAuthApp, "account_id", account.id),
        admins=workspace_deletion.count_where(db, AccountAdmin, "account_id", account.id),
    )


def workspaces(db: Session, account: Account) -> list[Workspace]:
    stmt = select(Workspace).where(Workspace.account_id == account.id)
    return list(db.exec(stmt.order_by(Workspace.name, Workspace.id)).all())


# The account's own rows, children first (its workspaces' rows are gone by then).
_ACCOUNT_ROWS: list[tuple[type, str]] = [
    (GrantSpend, "account_id"),
    (Grant, "account_id"),
    (ConnectionSecret, "tenant_id"),
    (OAuthFlow, "account_id"),
    (ConnectionRow, "account_id"),
    (AccountOAuthApp, "account_id"),
    (ModelPrice, "account_id"),
    (AccountAdmin, "account_id"),
    (Account, "id"),
]


def delete_rows(db: Session, account: Account, *, users_left_without: dict[str, set[str]]) -> None:
    """Every workspace of the account (children first), then the account's own rows
    (the caller commits). `users_left_without`: per workspace, whose sessions end."""
    for ws in workspaces(db, account):
        workspace_deletion.delete_rows(
            db, ws, users_left_without=users_left_without.get(ws.id, set())
        )
    acct = account.id
    own_connections = select(ConnectionRow.id).where(ConnectionRow.account_id == acct)
    by_connection = ConnectionSecret.connection_id.in_(own_connections)  # type: ignore[attr-defined]
    db.exec(delete(ConnectionSecret).where(by_connection))  # type: ignore[call-overload]
    for model, column in _ACCOUNT_ROWS:
        db.exec(delete(model).where(getattr(model, column) == acct))  # type: ignore[call-overload]
    db.flush()
