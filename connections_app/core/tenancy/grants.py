"""Scoped queries of grants (F9, F26): which workspaces an account connection reaches.

Only account admins read or change grants, and only their own account's: for anyone
else, and for another account's ids, every lookup here answers not-found, exactly
like an id that does not exist. The reads for workspace members (is this account
connection granted to my workspace?) take the actor's own workspace, never an id
from outside.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import false
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from connections_app.core.connections.models import Connection, Grant, Scope
from connections_app.core.identity.models import Account, Workspace
from connections_app.core.tenancy._rows import one, valid_id
from connections_app.core.tenancy.actor import Actor


def grants_query(actor: Actor) -> SelectOfScalar[Grant]:
    """The grants of the actor's account, for account admins; nothing for anyone else."""
    if not actor.is_account_admin:
        return select(Grant).where(false())
    return select(Grant).where(Grant.account_id == actor.account_id)


def get_grant(db: Session, actor: Actor, grant_id: Any, *, for_update: bool = False) -> Grant:
    gid = valid_id(grant_id, "Grant")
    return one(db, grants_query(actor).where(Grant.id == gid), "Grant", for_update)


def grants_with_workspaces(db: Session, actor: Actor, conn: Connection) -> list[tuple[Grant, str]]:
    """(grant, workspace name) of an account connection the actor resolved, by name."""
    if not actor.is_account_admin:
        return []
    stmt = (
        select(Grant, Workspace.name)
        .join(Workspace, Workspace.id == Grant.workspace_id)  # type: ignore[arg-type]
        .where(
            Grant.account_id == actor.account_id,
            Grant.connection_id == conn.id,
            Workspace.account_id == actor.account_id,
        )
        .order_by(Workspace.name, Grant.id)
    )
    return [(g, name) for g, name in db.exec(stmt).all()]


def grant_of(db: Session, conn: Connection, workspace_id: str) -> Grant | None:
    """The grant of a resolved account connection to one workspace, if any."""
    return db.exec(
        select(Grant).where(
            Grant.connection_id == conn.id,
            Grant.workspace_id == workspace_id,
            Grant.account_id == conn.account_id,
        )
    ).first()


def granted_here(db: Session, actor: Actor, conn: Connection) -> bool:
    """May this account connection be used in the actor's current workspace?

    Account admins see every account connection, granted or not; use in a workspace
    still needs its grant (the grant is what carries the cap)."""
    if conn.scope != Scope.ACCOUNT:
        return True
    if actor.workspace_id is None or conn.account_id != actor.account_id:
        return False
    return grant_of(db, conn, actor.workspace_id) is not None


def granted_workspace_ids(db: Session, conn: Connection) -> list[str]:
    """The workspaces a resolved account connection reaches: whose screens show it."""
    return list(db.exec(select(Grant.workspace_id).where(Grant.connection_id == conn.id)).all())


def ungranted_account_connections(db: Session, actor: Actor, ids: Iterable[str]) -> set[str]:
    """Of these ids (taken from the actor's own workspace's nodes), the account
    connections of the actor's account that are not granted to the actor's workspace.

    Says nothing of another account: its ids are simply not in the answer."""
    wanted = {i for i in ids if isinstance(i, str)}
    if not wanted or actor.workspace_id is None:
        return set()
    granted = select(Grant.connection_id).where(
        Grant.workspace_id == actor.workspace_id, Grant.account_id == actor.account_id
    )
    stmt = select(Connection.id).where(
        Connection.id.in_(wanted),  # type: ignore[union-attr]
        Connection.scope == Scope.ACCOUNT,
        Connection.account_id == actor.account_id,
        Connection.id.not_in(granted),  # type: ignore[union-attr]
    )
    return set(db.exec(stmt).all())


def is_ungranted_account_connection(db: Session, actor: Actor, connection_id: Any) -> bool:
    """For a run's refusal: is this id one of the actor's account's account connections
    that lost its grant here (rather than a deleted or foreign one)?"""
    if not isinstance(connection_id, str) or not 0 < len(connection_id) <= 64:
        return False
    return bool(ungranted_account_connections(db, actor, [connection_id]))


# --- the account's workspaces (the grant form's choices) -----------------------------


def account_workspaces(db: Session, actor: Actor) -> list[Workspace]:
    if not actor.is_account_admin:
        return []
    return list(
        db.exec(
            select(Workspace)
            .where(Workspace.account_id == actor.account_id)
            .order_by(Workspace.name, Workspace.id)
        ).all()
    )


def account_workspace(db: Session, actor: Actor, workspace_id: Any) -> Workspace:
    """One workspace of the actor's account, for an account admin; else not found."""
    wid = valid_id(workspace_id, "Workspace")
    if not actor.is_account_admin:
        return one(db, select(Workspace).where(false()), "Workspace", False)
    stmt = select(Workspace).where(Workspace.id == wid, Workspace.account_id == actor.account_id)
    return one(db, stmt, "Workspace", False)


def workspace_names(db: Session, account_id: str, ids: Iterable[str]) -> dict[str, str]:
    """Names of these workspaces of one account (where an account connection is used)."""
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = db.exec(
        select(Workspace.id, Workspace.name).where(
            Workspace.account_id == account_id,
            Workspace.id.in_(wanted),  # type: ignore[attr-defined]
        )
    ).all()
    return dict(rows)  # type: ignore[arg-type]


def account_name(db: Session, account_id: str) -> str:
    """The name the workspace screens show on granted connections ("Granted by …")."""
    return db.exec(select(Account.name).where(Account.id == account_id)).first() or ""
