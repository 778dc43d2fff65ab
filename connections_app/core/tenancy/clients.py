"""The client people of a workspace (F24): who may be invited to a portal, asked for a
connection, or named as a connection's authorizer.

Workspace admins see the clients of their workspace; a client sees only itself;
anyone else sees nobody. Foreign ids answer not-found, like connections.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false
from sqlmodel import Session, select

from connections_app.core.errors import NotFound
from connections_app.core.identity.models import ClientUser, User
from connections_app.core.tenancy._rows import valid_id
from connections_app.core.tenancy.actor import Actor


@dataclass(frozen=True)
class ClientPerson:
    user_id: str
    name: str
    email: str
    is_active: bool
    since: datetime


def _visible(actor: Actor) -> Any:
    """The predicate on `ClientUser` rows the actor may see."""
    if actor.workspace_id is None:
        return false()
    here = ClientUser.workspace_id == actor.workspace_id
    if actor.is_workspace_admin:
        return here
    if actor.is_client and actor.user_id is not None:
        return and_(here, ClientUser.user_id == actor.user_id)
    return false()


def client_people(db: Session, actor: Actor) -> list[ClientPerson]:
    """The clients of the actor's workspace the actor may see, by name."""
    rows = db.exec(
        select(ClientUser, User)
        .join(User, User.id == ClientUser.user_id)  # type: ignore[arg-type]
        .where(_visible(actor))
        .order_by(User.name, User.email)
    ).all()
    return [ClientPerson(u.id, u.name, u.email, u.is_active, c.created_at) for c, u in rows]


def get_client(db: Session, actor: Actor, user_id: Any) -> ClientPerson:
    """One client of the actor's workspace; anyone else (a member, another workspace's
    client, a made-up id) is not found."""
    uid = valid_id(user_id, "Client")
    for person in client_people(db, actor):
        if person.user_id == uid:
            return person
    raise NotFound("Client not found.")


def is_client_of(db: Session, *, workspace_id: str, user_id: str) -> bool:
    """Whether a person is a client of a workspace the caller already resolved."""
    return db.get(ClientUser, (workspace_id, user_id)) is not None


def client_names(db: Session, *, workspace_id: str | None, user_ids: set[str]) -> dict[str, str]:
    """The names of those of `user_ids` who are clients of a workspace the caller already
    resolved (the "Authorized by <client>" of its connections); others are left out."""
    ids = sorted(i for i in user_ids if i)
    if workspace_id is None or not ids:
        return {}
    rows = db.exec(
        select(User.id, User.name, User.email)
        .join(ClientUser, ClientUser.user_id == User.id)  # type: ignore[arg-type]
        .where(ClientUser.workspace_id == workspace_id, User.id.in_(ids))  # type: ignore[attr-defined]
    ).all()
    return {uid: name or email for uid, name, email in rows}
