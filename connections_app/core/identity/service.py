"""Accounts, workspaces, people and their sessions.

Sign-in happens in an HTTP route that sets an HttpOnly cookie; the cookie value
is a random token whose SHA-256 alone is stored. `actor_for_token` is how every
UI event and route learns who is calling: the browser never names its own user,
role or workspace.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from connections_app.core import audit
from connections_app.core.audit import Action, AuditHead
from connections_app.core.clock import utcnow
from connections_app.core.db import is_read_only
from connections_app.core.errors import Conflict, Invalid, NotFound, Unauthenticated
from connections_app.core.identity import throttle
from connections_app.core.identity.models import (
    Account,
    AccountAdmin,
    ClientUser,
    User,
    UserSession,
    Workspace,
    WorkspaceMember,
    WorkspaceRole,
)
from connections_app.core.identity.tenants import all_tenants
from connections_app.core.tenancy.actor import Actor, Role
from connections_app.core.tenancy.policy import (
    can_build,
    can_change_workspace_wide,
    can_create,
)
from connections_app.core.validation import clean_text
from connections_app.core.vault import Vault

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password-but-costs-the-same")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,58}[a-z0-9]$|^[a-z0-9]$")
MIN_PASSWORD = 10
MAX_PASSWORD = 256
# A flood of failed sign-ins must not flood the audit trail.
FAILED_SIGN_IN_AUDIT_EVERY = timedelta(minutes=1)


def _email(value: Any) -> str:
    text = clean_text(value, field="email", label="Email", max_length=254).lower()
    if not _EMAIL.match(text):
        raise Invalid("Enter a valid email address.", field="email")
    return text


def _slug(value: Any, *, field: str = "slug") -> str:
    text = clean_text(value, field=field, label="Slug", max_length=60).lower()
    if not _SLUG.match(text):
        raise Invalid(
            "Slugs use lowercase letters, digits and dashes (not at the ends).", field=field
        )
    return text


def _password(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("Enter a password.", field="password")
    if len(value) < MIN_PASSWORD:
        raise Invalid(f"Use at least {MIN_PASSWORD} characters.", field="password")
    if len(value) > MAX_PASSWORD:
        raise Invalid(f"Use at most {MAX_PASSWORD} characters.", field="password")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise Invalid("The password contains control characters.", field="password")
    return value


def create_account(db: Session, *, vault: Vault, name: Any, slug: Any, by: str) -> Account:
    account = Account(
        name=clean_text(name, field="name", label="Account name", max_length=120),
        slug=_slug(slug),
    )
    if db.exec(select(Account).where(Account.slug == account.slug)).first():
        raise Conflict(f"An account with slug “{account.slug}” already exists.")
    db.add(account)
    db.flush()
    db.add(AuditHead(account_id=account.id))
    vault.create_data_key(db, tenant_id=account.id, tenant_kind="account")
    audit.record(
        db,
        account_id=account.id,
        action=Action.ACCOUNT_CREATED,
        target_type="account",
        target_id=account.id,
        actor_id=None,
        actor_label=by,
        detail={"name": account.name},
    )
    _commit(db, "That account already exists.")
    return account


def ensure_data_keys(db: Session, *, vault: Vault) -> int:
    """One data key per tenant for databases from before keys were made with their tenant
    (the installation's included). Run when the process opens its vault (`vault.get_vault`:
    app start-up, and every CLI command but `db …`); a no-op once done."""
    return vault.ensure_tenant_keys(db, all_tenants(db))


def create_workspace(
    db: Session, *, vault: Vault, account_id: str, name: Any, slug: Any, by: str
) -> Workspace:
    if db.get(Account, account_id) is None:
        raise NotFound("Account not found.")
    workspace = Workspace(
        account_id=account_id,
        name=clean_text(name, field="name", label="Workspace name", max_length=120),
        slug=_slug(slug),
    )
    clash = db.exec(
        select(Workspace).where(
            Workspace.account_id == account_id, Workspace.slug == workspace.slug
        )
    ).first()
    if clash:
        raise Conflict(f"A workspace with slug “{workspace.slug}” already exists in this account.")
    db.add(workspace)
    db.flush()
    vault.create_data_key(db, tenant_id=workspace.id, tenant_kind="workspace")
    audit.record(
        db,
        account_id=account_id,
        workspace_id=workspace.id,
        action=Action.WORKSPACE_CREATED,
        target_type="workspace",
        target_id=workspace.id,
        actor_id=None,
        actor_label=by,
        detail={"name": workspace.name},
    )
    _commit(db, "That workspace already exists.")
    return workspace


def workspace_exists(db: Session, workspace_id: str) -> bool:
    """Whether a workspace is still there: its signal may announce that it was deleted
    (`identity.workspace_deletion`), and then its open tabs leave it."""
    return db.get(Workspace, workspace_id) is not None


def list_accounts(db: Session) -> list[Account]:
    """Operator-level listing (CLI only): accounts are the top of the tenancy tree."""
    return list(db.exec(select(Account).order_by(Account.slug)).all())


def find_account(db: Session, slug: Any) -> Account:
    row = db.exec(select(Account).where(Account.slug == _slug(slug, field="account"))).first()
    if row is None:
        raise NotFound(f"No account with slug “{slug}”.")
    return row


def find_workspace(db: Session, *, account_id: str, slug: Any) -> Workspace:
    row = db.exec(
        select(Workspace).where(
            Workspace.account_id == account_id, Workspace.slug == _slug(slug, field="workspace")
        )
    ).first()
    if row is None:
        raise NotFound(f"No workspace with slug “{slug}” in this account.")
    return row


# --- people -------------------------------------------------------------------------


def create_user(db: Session, *, email: Any, name: Any, password: Any) -> User:
    address = _email(email)
    if db.exec(select(User).where(User.email == address)).first():
        raise Conflict(f"A user with email {address} already exists.")
    user = User(
        email=address,
        name=clean_text(name, field="name", label="Name", max_length=120),
        password_hash=_hasher.hash(_password(password)),
    )
    db.add(user)
    _commit(db, "That user already exists.")
    return user


def find_user(db: Session, email: Any) -> User:
    row = db.exec(select(User).where(User.email == _email(email))).first()
    if row is None:
        raise NotFound(f"No user with email {email}.")
    return row


def add_member(
    db: Session, *, workspace_id: str, user_id: str, role: Any, by: str
) -> WorkspaceMember:
    workspace = db.get(Workspace, workspace_id)
    user = db.get(User, user_id)
    if workspace is None or user is None:
        raise NotFound("Workspace or user not found.")
    if role == Role.CLIENT:
        return _add_client(db, workspace=workspace, user_id=user_id, by=by)
    try:
        role_value = WorkspaceRole(role)
    except ValueError:
        raise Invalid("Role must be admin, builder, viewer or client.", field="role") from None
    member = db.get(WorkspaceMember, (workspace_id, user_id))
    if member is None:
        member = WorkspaceMember(workspace_id=workspace_id, user_id=user_id, role=role_value)
    else:
        member.role = role_value
    db.add(member)
    audit.record(
        db,
        account_id=workspace.account_id,
        workspace_id=workspace_id,
        action=Action.MEMBER_ADDED,
        target_type="user",
        target_id=user_id,
        actor_id=None,
        actor_label=by,
        detail={"email": user.email, "role": str(role_value)},
    )
    db.commit()
    return member


def _add_client(db: Session, *, workspace: Workspace, user_id: str, by: str) -> Any:
    row = db.get(ClientUser, (workspace.id, user_id))
    if row is None:
        row = ClientUser(workspace_id=workspace.id, user_id=user_id, invited_by=None)
        db.add(row)
        audit.record(
            db,
            account_id=workspace.account_id,
            workspace_id=workspace.id,
            action=Action.MEMBER_ADDED,
            target_type="user",
            target_id=user_id,
            actor_id=None,
            actor_label=by,
            detail={"email": _email_of(db, user_id), "role": "client"},
        )
        db.commit()
    return row


def _email_of(db: Session, user_id: str) -> str:
    """Audit rows name people by email: the log is read by admins of their workspace."""
    user = db.get(User, user_id)
    return user.email if user is not None else ""


def make_account_admin(db: Session, *, account_id: str, user_id: str, by: str) -> None:
    if db.get(Account, account_id) is None or db.get(User, user_id) is None:
        raise NotFound("Account or user not found.")
    if db.get(AccountAdmin, (account_id, user_id)) is None:
        db.add(AccountAdmin(account_id=account_id, user_id=user_id))
        audit.record(
            db,
            account_id=account_id,
            action=Action.MEMBER_ADDED,
            target_type="user",
            target_id=user_id,
            actor_id=None,
            actor_label=by,
            detail={"email": _email_of(db, user_id), "role": "account_admin"},
        )
        db.commit()


# --- sign-in and sessions -----------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(
    db: Session,
    *,
    email: Any,
    password: Any,
    client: str,
    clock: Callable[[], datetime] | None = None,
) -> User:
    """Check a password behind the sign-in throttle (`identity/throttle.py`).

    `client` is the caller's address as `throttle.client_key` names it. Raises
    `throttle.TooManyAttempts` (no password check at all) while the client or the
    account must wait, and one generic `Invalid` for a wrong password, an unknown
    email or malformed input alike. Known and unknown emails cost the same: the same
    throttle rows, one argon2 verification (a dummy hash for unknown emails). No
    transaction is open while argon2 runs, so other sign-ins are not held up.
    """
    clock = clock or utcnow  # looked up per call: a test may hold the module's clock still
    generic = Invalid("Email or password is incorrect.")
    try:
        address = _email(email)
    except Invalid:
        raise generic from None
    if not isinstance(password, str) or not password or len(password) > MAX_PASSWORD:
        raise generic
    admission = throttle.admit(db, client=client, email=address, now=clock())
    user = db.exec(select(User).where(User.email == address)).first()
    known = user is not None and user.is_active
    user_id = user.id if user is not None and known else None
    password_hash = user.password_hash if user is not None and known else _DUMMY_HASH
    db.commit()  # end the read transaction before the slow part
    if not _verify_quietly(password_hash, password) or user_id is None:
        _note_failure(db, admission, user_id=user_id, now=clock())
        raise generic
    throttle.forgive(db, admission)
    user = db.get(User, user_id)
    if user is None:  # removed while we were checking
        raise generic
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        db.add(user)
        db.commit()
    return user


def _note_failure(
    db: Session, admission: throttle.Admission, *, user_id: str | None, now: datetime
) -> None:
    """Audit a failed sign-in of a known person, at most once a minute per account.

    Unknown emails claim the same slot (same work, same timing); only a known person
    who belongs to an account gets an event, in that account's chain. The event names
    the client address and the account's failure count, never what was typed.
    """
    if not throttle.claim_audit_slot(db, admission, now=now, every=FAILED_SIGN_IN_AUDIT_EVERY):
        db.commit()
        return
    choices = workspaces_for(db, user_id) if user_id is not None else []
    email = _email_of(db, user_id) if user_id is not None else ""
    # Every workspace the person belongs to (each admin watches their own log); an
    # unknown email is never written anywhere (no account to own it, and it may be a
    # mistyped password).
    for choice in choices:
        audit.record(
            db,
            account_id=choice.account_id,
            workspace_id=choice.workspace_id,
            action=Action.SIGN_IN_FAILED,
            target_type="user",
            target_id=user_id,
            actor_id=None,
            actor_label=f"sign-in from {admission.client}",
            outcome="failure",
            detail={
                "email": email,
                "client": admission.client,
                "recent_failures": admission.account_failures,
            },
        )
    db.commit()


def _verify_quietly(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


ROLE_LABELS = {
    "admin": "Workspace admin",
    "builder": "Builder",
    "viewer": "Viewer",
    "client": "Client",
}


@dataclass(frozen=True)
class WorkspaceChoice:
    workspace_id: str
    account_id: str
    name: str
    account_name: str
    role: str

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)


def workspaces_for(db: Session, user_id: str) -> list[WorkspaceChoice]:
    """Workspaces a person may enter: memberships, client portals, and account-admin reach."""
    choices: dict[str, WorkspaceChoice] = {}
    admin_accounts = set(
        db.exec(select(AccountAdmin.account_id).where(AccountAdmin.user_id == user_id)).all()
    )
    if admin_accounts:
        rows = db.exec(
            select(Workspace, Account)
            .join(Account, Account.id == Workspace.account_id)
            .where(Workspace.account_id.in_(admin_accounts))  # type: ignore[attr-defined]
        ).all()
        for ws, acct in rows:
            choices[ws.id] = WorkspaceChoice(ws.id, acct.id, ws.name, acct.name, Role.ADMIN)
    member_rows = db.exec(
        select(Workspace, Account, WorkspaceMember.role)
        .join(Account, Account.id == Workspace.account_id)
        .join(WorkspaceMember, WorkspaceMember.workspace_id == Workspace.id)
        .where(WorkspaceMember.user_id == user_id)
    ).all()
    for ws, acct, role in member_rows:
        choices.setdefault(ws.id, WorkspaceChoice(ws.id, acct.id, ws.name, acct.name, role))
    client_rows = db.exec(
        select(Workspace, Account)
        .join(Account, Account.id == Workspace.account_id)
        .join(ClientUser, ClientUser.workspace_id == Workspace.id)
        .where(ClientUser.user_id == user_id)
    ).all()
    for ws, acct in client_rows:
        choices.setdefault(ws.id, WorkspaceChoice(ws.id, acct.id, ws.name, acct.name, Role.CLIENT))
    return sorted(choices.values(), key=lambda c: (c.account_name.lower(), c.name.lower()))


def start_session(db: Session, *, user: User, ttl_hours: int) -> str:
    """Create a session; the returned token goes into the cookie and nowhere else."""
    token = secrets.token_urlsafe(32)
    choices = workspaces_for(db, user.id)
    now = utcnow()
    db.add(
        UserSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            workspace_id=choices[0].workspace_id if choices else None,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=ttl_hours),
        )
    )
    if choices:
        audit.record(
            db,
            account_id=choices[0].account_id,
            workspace_id=choices[0].workspace_id,
            action=Action.SIGNED_IN,
            target_type="user",
            target_id=user.id,
            actor_id=user.id,
            actor_label=user.email,
            detail={"email": user.email},
        )
    db.commit()
    return token


def end_session(db: Session, token: Any) -> None:
    if not isinstance(token, str) or not token:
        return
    row = db.get(UserSession, _token_hash(token))
    if row is not None:
        db.delete(row)
        db.commit()


@dataclass(frozen=True)
class SessionView:
    """Non-secret facts about the signed-in person, fit for UI state.

    The properties answer the questions every screen asks about the person, so no
    screen re-derives them from the role."""

    user_id: str
    email: str
    name: str
    actor: Actor | None
    workspaces: list[WorkspaceChoice]

    @property
    def role_label(self) -> str:
        """An account admin acts as admin in every workspace; say what she is."""
        if self.actor is None:
            return ""
        if self.actor.is_account_admin:
            return "Account admin"
        return ROLE_LABELS.get(str(self.actor.role), str(self.actor.role or ""))

    @property
    def is_workspace_admin(self) -> bool:
        return self.actor is not None and self.actor.is_workspace_admin

    @property
    def may_build(self) -> bool:
        """May change workflows and their nodes here."""
        return self.actor is not None and can_build(self.actor)

    @property
    def may_change_workspace_wide(self) -> bool:
        """May use the workspace-wide workflow tools: switch a connection in every node,
        export, import (not a client, whose world is its own workflows, F32)."""
        return self.actor is not None and can_change_workspace_wide(self.actor)

    @property
    def may_add_account_connection(self) -> bool:
        """May add account connections and manage their grants (account screens, F9)."""
        return self.actor is not None and self.actor.is_account_admin

    @property
    def may_add_connection(self) -> bool:
        """May add a workspace connection here."""
        return self.actor is not None and can_create(self.actor)


def _load_session_row(db: Session, token_hash: str) -> UserSession:
    row = db.get(UserSession, token_hash)
    if row is None:
        raise Unauthenticated("Please sign in.")
    if row.expires_at <= utcnow():
        if not is_read_only(db):  # readers leave the row to the hourly purge
            db.delete(row)
            db.commit()
        raise Unauthenticated("Your session has expired. Please sign in again.")
    return row


def session_view(db: Session, token: Any) -> SessionView:
    """Who holds this cookie, and as whom they act in their current workspace."""
    return session_view_for_ref(db, session_ref(token))


def _view(db: Session, row: UserSession) -> SessionView:
    user = db.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("Please sign in.")
    choices = workspaces_for(db, user.id)
    current = next((c for c in choices if c.workspace_id == row.workspace_id), None)
    if current is None and choices:
        current = choices[0]
        if not is_read_only(db):  # a reader uses the first workspace without saving it
            row.workspace_id = current.workspace_id
            db.add(row)
            db.commit()
    actor = None
    if current is not None:
        is_admin = db.get(AccountAdmin, (current.account_id, user.id)) is not None
        actor = Actor(
            user_id=user.id,
            label=user.email,
            account_id=current.account_id,
            workspace_id=current.workspace_id,
            role=Role(current.role),
            is_account_admin=is_admin,
        )
    return SessionView(user.id, user.email, user.name, actor, choices)


def actor_for_token(db: Session, token: Any) -> Actor:
    return actor_for_ref(db, session_ref(token))


def actor_for_member(db: Session, *, user_id: str, workspace_id: str) -> Actor:
    """The actor a background job acts as: the person who started it, in its workspace,
    with the role they hold *now* (someone removed since then can no longer act)."""
    user = db.get(User, user_id)
    if user is None or not user.is_active:
        raise NotFound("The person who started this is no longer active.")
    current = next((c for c in workspaces_for(db, user.id) if c.workspace_id == workspace_id), None)
    if current is None:
        raise NotFound("The person who started this is no longer a member of this workspace.")
    is_admin = db.get(AccountAdmin, (current.account_id, user.id)) is not None
    return Actor(
        user_id=user.id,
        label=user.email,
        account_id=current.account_id,
        workspace_id=current.workspace_id,
        role=Role(current.role),
        is_account_admin=is_admin,
    )


def switch_workspace(db: Session, *, token: Any, workspace_id: Any) -> Actor:
    """Move the session to another workspace the person belongs to; others are not found."""
    return switch_workspace_for_ref(db, ref=session_ref(token), workspace_id=workspace_id)


# --- session references: what the Reflex websocket gets instead of the cookie --------
#
# Reflex stores the websocket handshake headers in its state (on disk or in Redis) and
# logs them in some error paths. The app's ASGI guard therefore replaces the session
# cookie on the websocket with a *reference*: SHA-256(token), which is also the
# session row's primary key. A reference is not a credential: HTTP routes accept
# only the raw cookie, and the guard drops any reference a client sends itself, so
# a reference read from a log, a state file or Redis signs nobody in.

_REF = re.compile(r"^[0-9a-f]{64}$")


def ref_cookie_name(session_cookie: str) -> str:
    """The cookie name under which the websocket handshake carries the reference."""
    return f"{session_cookie}_ref"


def session_ref(token: Any) -> str | None:
    """The reference for a raw session token (None for anything that is not one)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    return _token_hash(token)


def _load_session_by_ref(db: Session, ref: Any) -> UserSession:
    if not isinstance(ref, str) or not _REF.match(ref):
        raise Unauthenticated("Please sign in.")
    return _load_session_row(db, ref)


def session_view_for_ref(db: Session, ref: Any) -> SessionView:
    """`session_view` for the websocket, which knows the session by reference only."""
    return _view(db, _load_session_by_ref(db, ref))


def actor_for_ref(db: Session, ref: Any) -> Actor:
    view = session_view_for_ref(db, ref)
    if view.actor is None:
        raise Unauthenticated("You are not a member of any workspace yet.")
    return view.actor


def switch_workspace_for_ref(db: Session, *, ref: Any, workspace_id: Any) -> Actor:
    """`switch_workspace` for the websocket: the session is named by its reference."""
    row = _load_session_by_ref(db, ref)
    choices = workspaces_for(db, row.user_id)
    if not isinstance(workspace_id, str) or workspace_id not in {c.workspace_id for c in choices}:
        raise NotFound("Workspace not found.")
    row.workspace_id = workspace_id
    db.add(row)
    db.commit()
    return actor_for_ref(db, ref)


PORTAL_PAGE = "/portal/connections"
INTEGRATIONS_PAGE = "/integrations"

# Which paths each kind of person may open (prefixes); anything else sends them to their
# start page. Clients live in their portal (and on connect-link pages, F24); members
# and account admins never get a portal (it would list "my connections" of a workspace
# they are not a client of).
CLIENT_PATHS: tuple[str, ...] = ("/portal", "/connect")
CLIENT_ONLY_PATHS: tuple[str, ...] = ("/portal",)


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def start_page(actor: Actor | None) -> str:
    """Where a person starts: a client's portal, everyone else's Integrations (every
    entry — `/`, `/sign-in`, the 404 page's way back — asks here)."""
    return PORTAL_PAGE if actor is not None and actor.is_client else INTEGRATIONS_PAGE


def may_open(actor: Actor | None, path: str) -> bool:
    """Whether a signed-in person may open a page (UX only: every service checks again).

    Clients stay within `CLIENT_PATHS` (their portal, and the page of a connect link
    sent to them, which the core resolves for the signed-in person before showing
    anything); nobody else opens `CLIENT_ONLY_PATHS` (a member's "my connections"
    would be a list of the workspace under the portal's name).
    """
    if actor is not None and actor.is_client:
        return _under(path, CLIENT_PATHS)
    return not _under(path, CLIENT_ONLY_PATHS)


def page_for(actor: Actor | None, path: str) -> str | None:
    """None when the person may open `path`, else where to send them instead."""
    return None if may_open(actor, path) else start_page(actor)


def start_page_for_ref(db: Session, ref: Any) -> str | None:
    """The start page of the live session a reference names; None when there is none."""
    if session_user_for_ref(db, ref) is None:
        return None
    return start_page(session_view_for_ref(db, ref).actor)


def session_user_for_ref(db: Session, ref: Any) -> str | None:
    """The id of the active person a reference belongs to, or None: the cheap check run
    before every websocket event (one primary-key read, one user read)."""
    try:
        row = _load_session_by_ref(db, ref)
    except Unauthenticated:
        return None
    user = db.get(User, row.user_id)
    return user.id if user is not None and user.is_active else None


def purge_expired_sessions(db: Session) -> int:
    expired = db.exec(select(UserSession).where(UserSession.expires_at <= utcnow())).all()
    for row in expired:
        db.delete(row)
    db.commit()
    return len(expired)


def _commit(db: Session, conflict_message: str) -> None:
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise Conflict(conflict_message) from None
