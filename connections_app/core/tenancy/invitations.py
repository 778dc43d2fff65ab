"""Scoped queries of client invitations (F24).

A workspace admin reaches the invitations of the workspace they act in; anyone
else reaches none, and any other id is `NotFound`, exactly like an id that does
not exist. The lookups by token hash at the end are capability lookups: the
person opening an invitation link has no session and no actor yet (they are
about to become one), so nothing but possession of the single-use token can
scope them, like the OAuth callback's flow state. They answer only for the row
whose SHA-256 the caller presents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import false, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from connections_app.core.identity.invitation_models import ClientInvitation
from connections_app.core.identity.models import (
    Account,
    AccountAdmin,
    User,
    Workspace,
    WorkspaceMember,
)
from connections_app.core.tenancy._rows import one, valid_id
from connections_app.core.tenancy.actor import Actor

_WHAT = "Invitation"
_Inviter = aliased(User)


def _here(actor: Actor) -> Any:
    """The invitations the actor may manage: those of their workspace, for its admins."""
    if actor.workspace_id is None or not actor.is_workspace_admin:
        return false()
    return ClientInvitation.workspace_id == actor.workspace_id


def invitations_of(db: Session, actor: Actor) -> list[tuple[ClientInvitation, str]]:
    """The workspace's invitations, newest first, each with its inviter's email."""
    stmt = (
        select(ClientInvitation, _Inviter.email)
        .join(_Inviter, _Inviter.id == ClientInvitation.created_by, isouter=True)
        .where(_here(actor))
        .order_by(ClientInvitation.created_at.desc())  # type: ignore[attr-defined]
    )
    return [(row, email or "") for row, email in db.exec(stmt).all()]


def get_invitation(db: Session, actor: Actor, invitation_id: Any) -> ClientInvitation:
    wanted = valid_id(invitation_id, _WHAT)
    stmt = select(ClientInvitation).where(ClientInvitation.id == wanted, _here(actor))
    return one(db, stmt, _WHAT, False)


def open_for(db: Session, actor: Actor, email: str, now: datetime) -> list[ClientInvitation]:
    """The workspace's invitations for `email` that a link could still be accepted with."""
    stmt = select(ClientInvitation).where(
        _here(actor),
        ClientInvitation.email == email,
        ClientInvitation.used_at.is_(None),  # type: ignore[union-attr]
        ClientInvitation.revoked_at.is_(None),  # type: ignore[union-attr]
        ClientInvitation.expires_at > now,
    )
    return list(db.exec(stmt).all())


def mark_revoked(
    db: Session, actor: Actor, invitation_id: str, *, by: str | None, now: datetime
) -> bool:
    """Revoke one still-open invitation of the actor's workspace; False when it was
    used or revoked meanwhile (the conditional update is the guard, not a read)."""
    stmt = (
        update(ClientInvitation)
        .where(
            ClientInvitation.id == invitation_id,  # type: ignore[arg-type]
            _here(actor),
            ClientInvitation.used_at.is_(None),  # type: ignore[union-attr]
            ClientInvitation.revoked_at.is_(None),  # type: ignore[union-attr]
        )
        .values(revoked_at=now, revoked_by=by)
    )
    return db.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


def has_staff_access(
    db: Session, *, workspace_id: str, account_id: str, user_id: str
) -> str | None:
    """The role a person holds in a workspace as agency staff (a member, or an admin of
    its account), or None: staff are not made clients of their own workspace. The
    caller names a workspace it already resolved (the actor's, or the invitation's)."""
    role = db.exec(
        select(WorkspaceMember.role).where(
            WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.user_id == user_id
        )
    ).first()
    if role is not None:
        return str(role)
    is_admin = db.exec(
        select(AccountAdmin.user_id).where(
            AccountAdmin.account_id == account_id, AccountAdmin.user_id == user_id
        )
    ).first()
    return "account_admin" if is_admin is not None else None


# --- capability lookups: the invitation link's token hash is the only key ----------------


def by_token_hash(db: Session, token_hash: str) -> tuple[ClientInvitation, Workspace, Account]:
    """The invitation a link's token names, with its workspace and account (for the
    accept page); anything else is `NotFound`."""
    stmt = (
        select(ClientInvitation, Workspace, Account)
        .join(Workspace, Workspace.id == ClientInvitation.workspace_id)  # type: ignore[arg-type]
        .join(Account, Account.id == ClientInvitation.account_id)  # type: ignore[arg-type]
        .where(ClientInvitation.token_hash == token_hash)
    )
    return one(db, stmt, _WHAT, False)


def claim(db: Session, token_hash: str, *, user_id: str, now: datetime) -> bool:
    """Mark the invitation used, once: True only for the one caller whose conditional
    update found it still open (two tabs accepting at once: one wins)."""
    stmt = (
        update(ClientInvitation)
        .where(
            ClientInvitation.token_hash == token_hash,  # type: ignore[arg-type]
            ClientInvitation.used_at.is_(None),  # type: ignore[union-attr]
            ClientInvitation.revoked_at.is_(None),  # type: ignore[union-attr]
            ClientInvitation.expires_at > now,  # type: ignore[arg-type]
        )
        .values(used_at=now, used_by=user_id)
    )
    return db.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
