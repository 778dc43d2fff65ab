"""The queries of deleting a workspace (F7 crypto-shredding): which workspace an account
admin may delete, what it holds, and removing its rows in dependency order.

Only `identity.workspace_deletion` calls these, after it has checked that the actor is
an admin of the workspace's account. Audit events and the destroyed data-key rows are
never deleted here: the first keep each account's hash chain whole, the second are the
tombstone that stops a shredded tenant from ever getting a key again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlmodel import Session, func, select

from connections_app.core.connections.models import Connection as ConnectionRow
from connections_app.core.connections.models import ConnectionSecret, ConnectLink, Grant
from connections_app.core.identity.invitation_models import ClientInvitation
from connections_app.core.identity.models import ClientUser, UserSession, Workspace, WorkspaceMember
from connections_app.core.metering.models import GrantSpend
from connections_app.core.oauth.models import OAuthFlow
from connections_app.core.tenancy._rows import one, valid_id
from connections_app.core.tenancy.actor import Actor
from connections_app.core.workflows.models import Node, Run, RunStep, Workflow


def workspace_of_account(
    db: Session, actor: Actor, workspace_id: object, *, for_update: bool = False
) -> Workspace:
    """A workspace of the actor's account; any other id (another account's included) is
    not found, so an id tells nobody whether it exists elsewhere."""
    wanted = valid_id(workspace_id, "Workspace")
    stmt = select(Workspace).where(Workspace.id == wanted, Workspace.account_id == actor.account_id)
    return one(db, stmt, "Workspace", for_update)


def account_workspaces(db: Session, actor: Actor) -> list[Workspace]:
    """The workspaces of the actor's account, by name (the caller checks the admin)."""
    stmt = select(Workspace).where(Workspace.account_id == actor.account_id)
    return list(db.exec(stmt.order_by(Workspace.name, Workspace.id)).all())


def workspace_count(db: Session, actor: Actor) -> int:
    """How many workspaces the actor's account has (its last one is not deleted)."""
    stmt = select(func.count()).select_from(Workspace)
    stmt = stmt.where(Workspace.account_id == actor.account_id)
    return int(db.exec(stmt).one())


@dataclass(frozen=True)
class Holdings:
    """How many rows of each kind the workspace holds (counts only, never contents)."""

    connections: int
    workflows: int
    runs: int
    members: int
    clients: int
    invitations: int
    connect_links: int
    grants: int


def count_where(db: Session, model: type, column: str, value: str) -> int:
    """How many rows of `model` have `column` == value (a workspace's or account's)."""
    stmt = select(func.count()).select_from(model).where(getattr(model, column) == value)
    return int(db.exec(stmt).one())


def _count(db: Session, model: type, workspace_id: str) -> int:
    return count_where(db, model, "workspace_id", workspace_id)


def holdings(db: Session, workspace: Workspace) -> Holdings:
    ws = workspace.id
    return Holdings(
        connections=_count(db, ConnectionRow, ws),
        workflows=_count(db, Workflow, ws),
        runs=_count(db, Run, ws),
        members=_count(db, WorkspaceMember, ws),
        clients=_count(db, ClientUser, ws),
        invitations=_count(db, ClientInvitation, ws),
        connect_links=_count(db, ConnectLink, ws),
        grants=_count(db, Grant, ws),
    )


def session_users(db: Session, workspace: Workspace) -> list[str]:
    """The people whose sessions currently stand in this workspace."""
    stmt = select(UserSession.user_id).where(UserSession.workspace_id == workspace.id).distinct()
    return list(db.exec(stmt).all())


def delete_rows(db: Session, workspace: Workspace, *, users_left_without: set[str]) -> None:
    """Every row of the workspace, children first (the caller commits).

    Sessions standing in it move to no workspace (the session view then picks the
    person's first remaining one); the sessions of people left with no workspace at all
    end, so their tabs go to sign-in instead of an empty shell."""
    ws = workspace.id
    own_connections = select(ConnectionRow.id).where(ConnectionRow.workspace_id == ws)
    runs = select(Run.id).where(Run.workspace_id == ws)
    statements = [
        delete(RunStep).where(RunStep.run_id.in_(runs)),  # type: ignore[attr-defined]
        delete(Run).where(Run.workspace_id == ws),  # type: ignore[arg-type]
        delete(Node).where(Node.workspace_id == ws),  # type: ignore[arg-type]
        delete(Workflow).where(Workflow.workspace_id == ws),  # type: ignore[arg-type]
        delete(ConnectionSecret).where(
            ConnectionSecret.connection_id.in_(own_connections)  # type: ignore[attr-defined]
        ),
        delete(ConnectionSecret).where(ConnectionSecret.tenant_id == ws),  # type: ignore[arg-type]
        delete(GrantSpend).where(GrantSpend.workspace_id == ws),  # type: ignore[arg-type]
        delete(GrantSpend).where(
            GrantSpend.connection_id.in_(own_connections)  # type: ignore[attr-defined]
        ),
        delete(Grant).where(Grant.workspace_id == ws),  # type: ignore[arg-type]
        delete(OAuthFlow).where(OAuthFlow.workspace_id == ws),  # type: ignore[arg-type]
        delete(ConnectLink).where(ConnectLink.workspace_id == ws),  # type: ignore[arg-type]
        delete(ClientInvitation).where(ClientInvitation.workspace_id == ws),  # type: ignore[arg-type]
        delete(ConnectionRow).where(ConnectionRow.workspace_id == ws),  # type: ignore[arg-type]
        delete(WorkspaceMember).where(WorkspaceMember.workspace_id == ws),  # type: ignore[arg-type]
        delete(ClientUser).where(ClientUser.workspace_id == ws),  # type: ignore[arg-type]
    ]
    if users_left_without:
        statements.append(
            delete(UserSession).where(
                UserSession.workspace_id == ws,  # type: ignore[arg-type]
                UserSession.user_id.in_(sorted(users_left_without)),  # type: ignore[attr-defined]
            )
        )
    statements += [
        update(UserSession)
        .where(UserSession.workspace_id == ws)  # type: ignore[arg-type]
        .values(workspace_id=None),
        delete(Workspace).where(Workspace.id == ws),  # type: ignore[arg-type]
    ]
    for statement in statements:
        db.exec(statement)  # type: ignore[call-overload]
    db.flush()
