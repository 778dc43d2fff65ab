"""Every query of `connect_links` (F24).

A workspace admin reaches the links of their own workspace only; a client reaches the
pending links of their workspace bound to them or to any client. Any other id answers
not-found, exactly like an id that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, update
from sqlmodel import Session, select

from connections_app.core.connections.models import ConnectLink
from connections_app.core.tenancy._rows import one, valid_id
from connections_app.core.tenancy.actor import Actor

_WHAT = "Connect link"


def _admin_visible(actor: Actor) -> ColumnElement[bool]:
    if actor.workspace_id is None or not actor.is_workspace_admin:
        return false()
    return and_(
        ConnectLink.workspace_id == actor.workspace_id,
        ConnectLink.account_id == actor.account_id,
    )


def _open_to_client(actor: Actor, now: datetime) -> ColumnElement[bool]:
    """Pending links a client may answer: this workspace, this person or any client."""
    if actor.workspace_id is None or not actor.is_client or actor.user_id is None:
        return false()
    return and_(
        ConnectLink.workspace_id == actor.workspace_id,
        ConnectLink.account_id == actor.account_id,
        or_(
            ConnectLink.client_user_id == actor.user_id,
            ConnectLink.client_user_id.is_(None),  # type: ignore[union-attr]
        ),
        ConnectLink.used_at.is_(None),  # type: ignore[union-attr]
        ConnectLink.revoked_at.is_(None),  # type: ignore[union-attr]
        ConnectLink.expires_at > now,
    )


def links_of_workspace(db: Session, actor: Actor) -> list[ConnectLink]:
    """A workspace admin's list, newest first (anyone else: nothing)."""
    stmt = select(ConnectLink).where(_admin_visible(actor))
    return list(db.exec(stmt.order_by(ConnectLink.created_at.desc())).all())  # type: ignore[attr-defined]


def get_for_admin(
    db: Session, actor: Actor, link_id: Any, *, for_update: bool = False
) -> ConnectLink:
    wanted = valid_id(link_id, _WHAT)
    stmt = select(ConnectLink).where(ConnectLink.id == wanted, _admin_visible(actor))
    return one(db, stmt, _WHAT, for_update)


def pending_for_client(db: Session, actor: Actor, now: datetime) -> list[ConnectLink]:
    stmt = select(ConnectLink).where(_open_to_client(actor, now))
    return list(db.exec(stmt.order_by(ConnectLink.created_at.desc())).all())  # type: ignore[attr-defined]


def by_id_in_workspace(db: Session, actor: Actor, link_id: Any) -> ConnectLink | None:
    """A link of the actor's workspace by id, whatever its state (the caller tells a
    client why it cannot be used); another workspace's link is None, like a made-up id."""
    if actor.workspace_id is None or not isinstance(link_id, str) or not 0 < len(link_id) <= 64:
        return None
    stmt = select(ConnectLink).where(
        ConnectLink.id == link_id,
        ConnectLink.workspace_id == actor.workspace_id,
        ConnectLink.account_id == actor.account_id,
    )
    return db.exec(stmt).first()


def by_token_hash(db: Session, token_hash: str) -> ConnectLink | None:
    """The capability lookup: whoever holds the raw token found the link, but the
    caller then checks the signed-in person against it (workspace, client binding)
    before showing or doing anything; the hash alone reveals nothing."""
    return db.exec(select(ConnectLink).where(ConnectLink.token_hash == token_hash)).first()


def claim(
    db: Session, *, link_id: str, user_id: str | None, connection_id: str, now: datetime
) -> bool:
    """Mark a link used inside the caller's transaction; only one use ever wins (a
    second concurrent use updates nothing, and its caller rolls back)."""
    result = db.execute(
        update(ConnectLink)
        .where(
            ConnectLink.id == link_id,  # type: ignore[arg-type]
            ConnectLink.used_at.is_(None),  # type: ignore[union-attr]
            ConnectLink.revoked_at.is_(None),  # type: ignore[union-attr]
            ConnectLink.expires_at > now,  # type: ignore[arg-type]
        )
        .values(used_at=now, used_by=user_id, connection_id=connection_id)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def revoke(db: Session, actor: Actor, *, link_id: str, now: datetime) -> bool:
    """Revoke a pending link of the admin's workspace (a used one stays as it was)."""
    result = db.execute(
        update(ConnectLink)
        .where(
            ConnectLink.id == link_id,  # type: ignore[arg-type]
            _admin_visible(actor),
            ConnectLink.used_at.is_(None),  # type: ignore[union-attr]
            ConnectLink.revoked_at.is_(None),  # type: ignore[union-attr]
        )
        .values(revoked_at=now, revoked_by=actor.user_id)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]
