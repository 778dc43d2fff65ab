"""Scoped queries of an account's OAuth app registrations (F27).

An account admin reaches the rows of their own account only; any other id is
`NotFound`, exactly like an id that does not exist. The system lookups at the end
serve the connect flow, the refresher and revoke, which act for a flow or a
connection row whose account they already know.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, column, table
from sqlmodel import Session, select

from connections_app.core.errors import NotFound
from connections_app.core.identity.models import Workspace
from connections_app.core.oauth.models import AccountOAuthApp
from connections_app.core.tenancy._rows import one, valid_id
from connections_app.core.tenancy.actor import Actor

_WHAT = "OAuth app"
# The connections table seen without its model: `core/oauth` may not import
# `core/connections` (import-linter), and this module serves it.
_connections = table(
    "connections",
    column("id"),
    column("account_id"),
    column("app"),
    column("kind"),
    column("status"),
    column("label"),
    column("config", JSON),
)


def apps_of(db: Session, actor: Actor) -> list[AccountOAuthApp]:
    """The actor's account's registrations (callers checked the actor is an account admin)."""
    stmt = select(AccountOAuthApp).where(AccountOAuthApp.account_id == actor.account_id)
    return list(db.exec(stmt.order_by(AccountOAuthApp.name)).all())


def get_app(db: Session, actor: Actor, app_id: Any, *, for_update: bool = False) -> AccountOAuthApp:
    """One registration of the actor's account: invisible ≡ absent."""
    wanted = valid_id(app_id, _WHAT)
    stmt = select(AccountOAuthApp).where(
        AccountOAuthApp.id == wanted, AccountOAuthApp.account_id == actor.account_id
    )
    return one(db, stmt, _WHAT, for_update)


def slot_taken(db: Session, actor: Actor, slot: str, *, exclude_id: str | None = None) -> bool:
    stmt = select(AccountOAuthApp.id).where(
        AccountOAuthApp.account_id == actor.account_id, AccountOAuthApp.slot == slot
    )
    if exclude_id:
        stmt = stmt.where(AccountOAuthApp.id != exclude_id)
    return db.exec(stmt).first() is not None


def custom_apps_for_members(db: Session, actor: Actor, *, app: str) -> list[AccountOAuthApp]:
    """The account's custom providers a workspace member may connect with (names only
    reach the UI); every member of the account may connect, as with catalog apps."""
    stmt = select(AccountOAuthApp).where(
        AccountOAuthApp.account_id == actor.account_id, AccountOAuthApp.app == app
    )
    return list(db.exec(stmt.order_by(AccountOAuthApp.name)).all())


def connections_using(db: Session, row: AccountOAuthApp, *, custom: bool) -> list[str]:
    """Labels of the live OAuth connections whose tokens this registration's client got.

    A catalog app's registration serves every OAuth connection of that app in the
    account; a custom provider's serves the connections that name it in their config
    (filtered here in Python: the JSON column is not indexed, and the set is one
    account's connections of one app)."""
    c = _connections.c
    stmt = select(c.label, c.config).where(
        c.account_id == row.account_id,
        c.app == row.app,
        c.kind == "oauth2",
        c.status != "revoked",
    )
    found = db.exec(stmt).all()  # type: ignore[call-overload]
    return sorted(
        label
        for label, config in found
        if not custom or (config or {}).get("oauth_app_id") == row.id
    )


def workspaces_of(db: Session, actor: Actor) -> list[str]:
    """Every workspace of the actor's account: their Add dialogs offer its OAuth apps, so
    a change to one signals them all."""
    stmt = select(Workspace.id).where(Workspace.account_id == actor.account_id)
    return list(db.exec(stmt).all())


# --- system lookups (the flow, the refresher, revoke) -------------------------------


def registration_for_system(db: Session, *, account_id: str, slot: str) -> AccountOAuthApp | None:
    """The account's registration in a slot (a catalog app key), if it has one."""
    stmt = select(AccountOAuthApp).where(
        AccountOAuthApp.account_id == account_id, AccountOAuthApp.slot == slot
    )
    return db.exec(stmt).first()


def app_for_system(db: Session, *, account_id: str, app_id: str) -> AccountOAuthApp:
    """A custom provider's registration by id, bounded to the account that owns the
    flow or connection asking."""
    stmt = select(AccountOAuthApp).where(
        AccountOAuthApp.id == app_id, AccountOAuthApp.account_id == account_id
    )
    row = db.exec(stmt).first()
    if row is None:
        raise NotFound("This connection's OAuth app no longer exists. An account admin adds it.")
    return row
