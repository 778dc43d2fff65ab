"""Inviting a client person to a workspace's portal (F24).

A workspace admin invites an email; the core returns the link's token once and
stores only its SHA-256, so the database (and anyone who reads it) cannot rebuild
a link. The link works once, for 72 hours, until revoked. Opening it lets the
person set a password (or, when the email already has an account here, confirm
theirs) and starts their session in the portal.

A pending invitation for an email that is invited again is *replaced*: the old
link stops working and the new one is the only one that does, so an admin who lost
a link simply invites again.

Every answer about a link that cannot be used — forged, used, expired, revoked —
is the same `NotFound`, so a link's holder learns nothing about links they do not
hold, and nothing about why theirs stopped working.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from connections_app.core import audit, guard
from connections_app.core.audit import Action
from connections_app.core.clock import utcnow
from connections_app.core.errors import Conflict, Forbidden, Invalid, NotFound
from connections_app.core.identity import service as identity
from connections_app.core.identity import throttle
from connections_app.core.identity.invitation_models import ClientInvitation
from connections_app.core.identity.models import ClientUser, User
from connections_app.core.tenancy import clients as client_scope
from connections_app.core.tenancy import invitations as scope
from connections_app.core.tenancy.actor import Actor
from connections_app.core.validation import clean_text

VALID_FOR = timedelta(hours=72)
INVALID_LINK = (
    "This invitation link is not valid any more. Ask the agency that invited you for a new one."
)
ONLY_ADMINS = "Only workspace admins invite clients."
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


@dataclass(frozen=True)
class InvitationView:
    email: str
    name: str
    state: str  # pending | used | expired | revoked (derived from the timestamps)
    id: str
    invited_by: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None

    @property
    def may_revoke(self) -> bool:
        return self.state == "pending"


@dataclass(frozen=True)
class NewInvitation:
    """The raw token is here once: the caller builds the link and forgets it."""

    invitation: InvitationView
    token: str


@dataclass(frozen=True)
class InvitePreview:
    """What the accept page shows: whose invitation, for whom, and which form to show."""

    agency: str
    workspace: str
    email: str
    name: str
    has_account: bool


@dataclass(frozen=True)
class Accepted:
    """The new session's token (for the HttpOnly cookie, and nowhere else)."""

    session_token: str
    user_id: str
    workspace_id: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def state_of(row: ClientInvitation, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.used_at is not None:
        return "used"
    if row.expires_at <= now:
        return "expired"
    return "pending"


def _view(row: ClientInvitation, inviter: str, now: datetime) -> InvitationView:
    return InvitationView(
        email=row.email,
        name=row.name or "",
        state=state_of(row, now),
        id=row.id,
        invited_by=inviter,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
        revoked_at=row.revoked_at,
    )


def _record(
    db: Session, row: ClientInvitation, action: Action, by: tuple[str | None, str], **facts: Any
) -> None:
    """One event about an invitation, in its workspace; `by` is (user id, label)."""
    where = {"account_id": row.account_id, "workspace_id": row.workspace_id, "target_id": row.id}
    detail = {"email": row.email, **facts}
    audit.record(
        db, action=action, target_type="invitation", actor_id=by[0], actor_label=by[1],
        detail=detail, **where,
    )  # fmt: skip


# --- the admin's side ----------------------------------------------------------------


def _require_admin(db: Session, actor: Actor, what: str) -> None:
    """Changes are refused through `guard`, so the refusal is in the audit log."""
    if not actor.is_workspace_admin:
        raise guard.refuse(
            db, actor, ONLY_ADMINS, what=what, target_type="workspace", target_id=actor.workspace_id
        )


def list_invitations(db: Session, actor: Actor) -> list[InvitationView]:
    """The workspace's invitations, newest first, for its admins."""
    if not actor.is_workspace_admin:
        raise Forbidden("Only workspace admins see the invitations of this workspace.")
    now = utcnow()
    return [_view(row, inviter, now) for row, inviter in scope.invitations_of(db, actor)]


ClientPerson = client_scope.ClientPerson  # the People tab's rows, named where it asks


def client_people(db: Session, actor: Actor) -> list[ClientPerson]:
    """The workspace's client people, for the admins who invite them (the People tab)."""
    if not actor.is_workspace_admin:
        raise Forbidden("Only workspace admins see the client people of this workspace.")
    return client_scope.client_people(db, actor)


def invite(db: Session, actor: Actor, email: Any, name: Any = None) -> NewInvitation:
    """Invite `email` as a client of the actor's workspace; the token is returned once."""
    _require_admin(db, actor, "invite a client")
    address = identity._email(email)
    person = clean_text(name, field="name", label="Name", max_length=120, required=False)
    assert actor.workspace_id is not None  # a workspace admin acts in a workspace
    user = db.exec(select(User).where(User.email == address)).first()
    if user is not None:
        role = scope.has_staff_access(
            db, workspace_id=actor.workspace_id, account_id=actor.account_id, user_id=user.id
        )
        if role is not None:
            what = identity.ROLE_LABELS.get(role, "Account admin")
            raise Conflict(f"{address} already works in this workspace ({what}).", field="email")
        if client_scope.is_client_of(db, workspace_id=actor.workspace_id, user_id=user.id):
            raise Conflict(f"{address} is already a client of this workspace.", field="email")
    now = utcnow()
    replaced = 0
    for old in scope.open_for(db, actor, address, now):
        if scope.mark_revoked(db, actor, old.id, by=actor.user_id, now=now):
            replaced += 1
    token = secrets.token_urlsafe(32)
    row = ClientInvitation(
        account_id=actor.account_id,
        workspace_id=actor.workspace_id,
        email=address,
        name=person or None,
        token_hash=token_hash(token),
        expires_at=now + VALID_FOR,
        created_by=actor.user_id,
        created_at=now,
    )
    db.add(row)
    db.flush()
    _record(db, row, Action.INVITATION_CREATED, (actor.user_id, actor.label), replaced=replaced)
    db.commit()
    return NewInvitation(_view(row, actor.label, now), token)


def revoke(db: Session, actor: Actor, invitation_id: Any) -> InvitationView:
    """Revoke a pending invitation: its link stops working at once."""
    _require_admin(db, actor, "revoke an invitation")
    row = scope.get_invitation(db, actor, invitation_id)
    now = utcnow()
    state = state_of(row, now)
    if state == "used":
        raise Conflict(f"{row.email} has already accepted this invitation.")
    if state == "revoked":
        raise Conflict("This invitation was revoked already.")
    if state == "expired":
        raise Conflict("This invitation has expired already: its link does not work.")
    if not scope.mark_revoked(db, actor, row.id, by=actor.user_id, now=now):
        db.rollback()
        raise Conflict("This invitation was used or revoked meanwhile.")
    _record(db, row, Action.INVITATION_REVOKED, (actor.user_id, actor.label))
    db.commit()
    db.refresh(row)
    return _view(row, "", now)


# --- the invited person's side (no session yet: the token is the capability) ----------


def _open(db: Session, token: Any) -> tuple[ClientInvitation, Any, Any]:
    if not isinstance(token, str) or not _TOKEN.match(token):
        raise NotFound(INVALID_LINK)
    try:
        row, workspace, account = scope.by_token_hash(db, token_hash(token))
    except NotFound:
        raise NotFound(INVALID_LINK) from None
    if state_of(row, utcnow()) != "pending":
        raise NotFound(INVALID_LINK)
    return row, workspace, account


def preview(db: Session, token: Any) -> InvitePreview:
    """What the accept page shows; any link that cannot be used is one `NotFound`."""
    row, workspace, account = _open(db, token)
    has_account = db.exec(select(User.id).where(User.email == row.email)).first() is not None
    return InvitePreview(account.name, workspace.name, row.email, row.name or "", has_account)


def accept(
    db: Session,
    token: Any,
    *,
    name: Any = None,
    password: Any = None,
    confirm: Any = None,
    current_password: Any = None,
    client: str = "invitation",
    ttl_hours: int = 12,
) -> Accepted:
    """Use the invitation: create the person (or, for an email that has an account,
    check its current password), make them a client, and start their session.

    The invitation is claimed with a conditional update inside the same transaction
    as the new rows, so a link used twice at once makes one client and one error.
    A person with an account proves it with their password behind the sign-in
    throttle (`client` names the caller's address as the throttle keys it)."""
    row, _workspace, _account = _open(db, token)
    hashed = token_hash(token)
    email, invited_by = row.email, row.created_by
    workspace_id, account_id = row.workspace_id, row.account_id
    user = db.exec(select(User).where(User.email == email)).first()
    user_id = user.id if user is not None else ""
    active = user is not None and user.is_active
    db.rollback()  # no transaction stays open while argon2 runs
    if user is not None:
        if not active:
            raise Invalid("This account is disabled. Ask the agency that invited you.")
        if not isinstance(current_password, str) or not current_password:
            raise Invalid("Enter the current password of your account.", field="current_password")
        try:
            identity.authenticate(db, email=email, password=current_password, client=client)
        except throttle.TooManyAttempts:
            raise
        except Invalid:
            raise Invalid(
                f"That is not the current password of {email}.", field="current_password"
            ) from None
        new_user = None
    else:
        full_name = clean_text(name, field="name", label="Name", max_length=120)
        secret = identity._password(password)
        if confirm != secret:
            raise Invalid("The two passwords are not the same.", field="confirm")
        new_user = User(email=email, name=full_name, password_hash=identity._hasher.hash(secret))
        user_id = new_user.id
    now = utcnow()
    if not scope.claim(db, hashed, user_id=user_id, now=now):
        db.rollback()
        raise NotFound(INVALID_LINK)
    if new_user is not None:
        db.add(new_user)
    elif scope.has_staff_access(
        db, workspace_id=workspace_id, account_id=account_id, user_id=user_id
    ):
        db.rollback()
        raise Conflict("You already work in this workspace: sign in as usual.")
    if not client_scope.is_client_of(db, workspace_id=workspace_id, user_id=user_id):
        db.add(
            ClientUser(
                workspace_id=workspace_id,
                user_id=user_id,
                invited_by=invited_by,
                created_at=now,
            )
        )
    _record(db, row, Action.INVITATION_ACCEPTED, (user_id, email), new_account=bool(new_user))
    try:
        db.commit()
    except IntegrityError:  # the email got an account meanwhile: nothing was written
        db.rollback()
        raise Conflict(
            "An account with this email was just created. Open the link again."
        ) from None
    person = db.get(User, user_id)
    assert person is not None
    session_token = identity.start_session(db, user=person, ttl_hours=ttl_hours)
    # A person with other workspaces starts in the one that invited them.
    identity.switch_workspace(db, token=session_token, workspace_id=workspace_id)
    return Accepted(session_token, user_id, workspace_id)
