"""Connect links (F24): a workspace admin asks a client to authorize one app.

The admin `request`s a link (app, suggested label, one client or any client of the
workspace, expiry) and gets its raw token once; only SHA-256 of it is stored. The
client, signed in, opens it: `resolve` checks that the link is pending, of the
client's workspace and bound to this person (or to any client), and every other case
is one `LinkUnusable` with a message for people that says nothing about another
workspace. The answer is a credential form (`complete_with_credentials`) or the OAuth
popup (`oauth_lifecycle.start(link=...)`); either way the connection is created by
the connection service as the workspace's, authorized by the client, and the link is
marked used in the same transaction by a conditional UPDATE, so a second use, however
concurrent, creates nothing.

A client's role still does not allow creating connections (`policy.can_create`): a
link the core resolved for this very person is the only way a client creates one.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from connections_app.core import audit, guard
from connections_app.core.audit import Action
from connections_app.core.catalog import AppDefinition, get_catalog
from connections_app.core.clock import utcnow
from connections_app.core.connections import service as connections
from connections_app.core.connections.models import Connection, ConnectLink, Kind
from connections_app.core.connections.views import ConnectionView
from connections_app.core.errors import DomainError, Invalid, NotFound
from connections_app.core.oauth import apps
from connections_app.core.tenancy import clients
from connections_app.core.tenancy import connect_links as scope
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.tenancy.actor import Actor
from connections_app.core.tenancy.grants import account_name
from connections_app.core.tenancy.metering import workspace_name
from connections_app.core.validation import clean_text
from connections_app.core.vault import Vault

DEFAULT_DAYS = 7
MAX_DAYS = 30
_FORM_KINDS = (Kind.API_KEY, Kind.BASIC)
_ID_SHAPE = 32  # a link id (uuid hex); a token is 43 URL-safe characters


class LinkUnusable(DomainError):
    """A link that cannot be answered: `reason` is invalid | other_client | not_client |
    revoked | used | expired. The message never names another workspace's data."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


_MESSAGES = {
    "invalid": "This link is not valid. Ask the agency that sent it for a new one.",
    "not_client": "This link is for a client of the workspace. Sign in as the person it was "
    "sent to.",
    "other_client": "This link was sent to someone else. Ask the agency for a link of your own.",
    "revoked": "This link was withdrawn by the agency. Nothing was connected.",
    "used": "This link was already used. Each link connects one app once.",
    "expired": "This link has expired. Ask the agency for a new one.",
}


def _unusable(reason: str) -> LinkUnusable:
    return LinkUnusable(reason, _MESSAGES[reason])


@dataclass(frozen=True)
class RequestableApp:
    """One choice of the admin's app select: a catalog app, or a custom provider."""

    value: str  # the app key, or "custom_oauth2:<oauth app id>"
    app: str
    oauth_app_id: str | None
    name: str
    icon: str
    method: str  # oauth | form


@dataclass(frozen=True)
class LinkView:
    """A link as the admin's list shows it."""

    id: str
    app: str
    app_name: str
    app_icon: str
    label: str
    client_name: str
    state: str  # pending | used | expired | revoked
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    connection_id: str | None
    connection_label: str


@dataclass(frozen=True)
class LinkPage:
    """What the link page shows the client it was resolved for (no token, no secret)."""

    id: str
    agency: str
    workspace: str
    app: str
    app_name: str
    app_icon: str
    label: str
    method: str  # oauth | form
    kind: str  # the form's auth kind ("" for oauth)
    oauth_app_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Requested:
    link: LinkView
    token: str  # shown once, never stored


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _method(definition: AppDefinition) -> tuple[str, str] | None:
    """How a client answers a link for this app: ("oauth", "") or ("form", kind)."""
    if definition.key == apps.CUSTOM or definition.offers_sign_in:
        return "oauth", ""
    kind = next((m.kind for m in definition.auth_methods if m.kind in _FORM_KINDS), None)
    return ("form", kind) if kind else None


def requestable_apps(db: Session, actor: Actor) -> list[RequestableApp]:
    """The apps a workspace admin may ask a client to authorize (nobody else: none)."""
    if not actor.is_workspace_admin:
        return []
    found: list[RequestableApp] = []
    for definition in get_catalog().apps:
        if definition.key == apps.CUSTOM:
            for oauth_app_id, name in apps.custom_providers(db, actor):
                found.append(
                    RequestableApp(
                        f"{apps.CUSTOM}:{oauth_app_id}",
                        apps.CUSTOM,
                        oauth_app_id,
                        name,
                        definition.icon,
                        "oauth",
                    )
                )
            continue
        how = _method(definition)
        if how is None:
            continue
        if how[0] == "oauth" and not apps.sign_in_available(db, actor, definition.key):
            continue
        found.append(
            RequestableApp(
                definition.key, definition.key, None, definition.name, definition.icon, how[0]
            )
        )
    return found


def _choose_app(db: Session, actor: Actor, app: Any, oauth_app: Any) -> RequestableApp:
    if isinstance(app, str) and app.startswith(f"{apps.CUSTOM}:") and oauth_app in (None, ""):
        app, oauth_app = apps.CUSTOM, app.split(":", 1)[1]
    for choice in requestable_apps(db, actor):
        if choice.app == app and (choice.oauth_app_id or None) == (oauth_app or None):
            return choice
    raise Invalid("Choose an app a client can connect.", field="app")


def _days(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_DAYS:
        raise Invalid(f"Expiry is a whole number of days from 1 to {MAX_DAYS}.", field="expires")
    return value


def _state(link: ConnectLink, now: datetime) -> str:
    if link.used_at is not None:
        return "used"
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= now:
        return "expired"
    return "pending"


def _app_face(link: ConnectLink, names: Mapping[str, str]) -> tuple[str, str]:
    definition = get_catalog().find(link.app)
    if definition is None:
        return link.app, ""
    if link.app == apps.CUSTOM and link.oauth_app_id:
        return names.get(link.oauth_app_id, definition.name), definition.icon
    return definition.name, definition.icon


def _custom_names(db: Session, actor: Actor) -> dict[str, str]:
    return dict(apps.custom_providers(db, actor))


def _link_view(
    db: Session,
    actor: Actor,
    link: ConnectLink,
    *,
    people: Mapping[str, str],
    custom: Mapping[str, str],
    now: datetime,
) -> LinkView:
    app_name, app_icon = _app_face(link, custom)
    connection_label = ""
    if link.connection_id:
        try:
            connection_label = connection_scope.get_connection(db, actor, link.connection_id).label
        except NotFound:
            connection_label = "(deleted)"
    client = (
        people.get(link.client_user_id, "A former client")
        if link.client_user_id
        else "Any client of this workspace"
    )
    return LinkView(
        id=link.id,
        app=link.app,
        app_name=app_name,
        app_icon=app_icon,
        label=link.label,
        client_name=client,
        state=_state(link, now),
        created_at=link.created_at,
        expires_at=link.expires_at,
        used_at=link.used_at,
        connection_id=link.connection_id,
        connection_label=connection_label,
    )


def _require_admin(db: Session, actor: Actor, what: str) -> None:
    if not actor.is_workspace_admin:
        raise guard.refuse(
            db,
            actor,
            "Only workspace admins manage connect links.",
            what=what,
            target_type="workspace",
            target_id=actor.workspace_id,
        )


def _audit(db: Session, actor: Actor, link: ConnectLink, action: Action, app_name: str) -> None:
    audit.record(
        db,
        account_id=link.account_id,
        workspace_id=link.workspace_id,
        action=action,
        target_type="connect_link",
        target_id=link.id,
        actor_id=actor.user_id,
        actor_label=actor.label,
        detail={"label": f"{app_name} link “{link.label}”", "app": link.app},
    )


def request(
    db: Session,
    actor: Actor,
    *,
    app: Any,
    label: Any,
    client_user_id: Any = None,
    expires_days: Any = DEFAULT_DAYS,
    oauth_app: Any = None,
) -> Requested:
    """Create a pending link and return it with its raw token (shown once)."""
    _require_admin(db, actor, "request a connection from a client")
    assert actor.workspace_id is not None
    choice = _choose_app(db, actor, app, oauth_app)
    label_text = clean_text(label, field="label", label="Label", max_length=120)
    client: str | None = None
    if client_user_id not in (None, ""):
        client = clients.get_client(db, actor, client_user_id).user_id
    days = _days(expires_days)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    link = ConnectLink(
        account_id=actor.account_id,
        workspace_id=actor.workspace_id,
        app=choice.app,
        oauth_app_id=choice.oauth_app_id,
        label=label_text,
        client_user_id=client,
        token_hash=token_hash(token),
        expires_at=now + timedelta(days=days),
        created_by=actor.user_id,
        created_at=now,
    )
    db.add(link)
    db.flush()
    _audit(db, actor, link, Action.CONNECT_LINK_REQUESTED, choice.name)
    db.commit()
    people = {p.user_id: p.name for p in clients.client_people(db, actor)}
    view = _link_view(db, actor, link, people=people, custom=_custom_names(db, actor), now=utcnow())
    return Requested(view, token)


def list_links(db: Session, actor: Actor) -> list[LinkView]:
    """The workspace's links with their state (workspace admins; anyone else: none)."""
    if not actor.is_workspace_admin:
        return []
    people = {p.user_id: p.name for p in clients.client_people(db, actor)}
    custom = _custom_names(db, actor)
    now = utcnow()
    return [
        _link_view(db, actor, link, people=people, custom=custom, now=now)
        for link in scope.links_of_workspace(db, actor)
    ]


def revoke(db: Session, actor: Actor, *, link_id: Any) -> None:
    """Withdraw a pending link; a used, expired or revoked one cannot be revoked."""
    _require_admin(db, actor, "revoke a connect link")
    link = scope.get_for_admin(db, actor, link_id, for_update=True)
    if _state(link, utcnow()) != "pending":
        raise Invalid(f"This link is already {_state(link, utcnow())}.")
    if not scope.revoke(db, actor, link_id=link.id, now=utcnow()):
        db.rollback()
        raise Invalid("This link was used or revoked meanwhile.")
    app_name, _ = _app_face(link, _custom_names(db, actor))
    _audit(db, actor, link, Action.CONNECT_LINK_REVOKED, app_name)
    db.commit()


def pending_for_client(db: Session, actor: Actor) -> list[LinkPage]:
    """The portal's pending requests of the signed-in client (anyone else: none)."""
    links = scope.pending_for_client(db, actor, utcnow())
    return [_page(db, actor, link) for link in links]


def _find(db: Session, actor: Actor, token: Any, link_id: Any) -> ConnectLink:
    if token is not None:
        if not isinstance(token, str) or not 20 <= len(token) <= 100:
            raise _unusable("invalid")
        link = scope.by_token_hash(db, token_hash(token))
    else:
        link = scope.by_id_in_workspace(db, actor, link_id)
    # Another workspace's link reads exactly like a forged one.
    if link is None or link.workspace_id != actor.workspace_id:
        raise _unusable("invalid")
    if link.account_id != actor.account_id:
        raise _unusable("invalid")
    return link


def _resolved(db: Session, actor: Actor, *, token: Any = None, link_id: Any = None) -> ConnectLink:
    link = _find(db, actor, token, link_id)
    if not actor.is_client or actor.user_id is None:
        raise _unusable("not_client")
    if link.client_user_id is not None and link.client_user_id != actor.user_id:
        raise _unusable("other_client")
    state = _state(link, utcnow())
    if state != "pending":
        raise _unusable(state)
    return link


def _page(db: Session, actor: Actor, link: ConnectLink) -> LinkPage:
    definition = get_catalog().get(link.app)
    how = _method(definition) or ("form", "")
    app_name, app_icon = definition.name, definition.icon
    if link.app == apps.CUSTOM and link.oauth_app_id:
        app_name = dict(apps.custom_providers(db, actor)).get(link.oauth_app_id, app_name)
    return LinkPage(
        id=link.id,
        agency=account_name(db, link.account_id) or "Your agency",
        workspace=workspace_name(db, account_id=link.account_id, workspace_id=link.workspace_id),
        app=link.app,
        app_name=app_name,
        app_icon=app_icon,
        label=link.label,
        method=how[0],
        kind=how[1],
        oauth_app_id=link.oauth_app_id or "",
        expires_at=link.expires_at,
    )


def is_link_id(reference: Any) -> bool:
    """The portal opens a link by id (it never knows the token): 32 hex characters,
    a shape no token has."""
    return (
        isinstance(reference, str)
        and len(reference) == _ID_SHAPE
        and all(c in "0123456789abcdef" for c in reference)
    )


def resolve(db: Session, actor: Actor, *, token: Any = None, link_id: Any = None) -> LinkPage:
    """The link page for the signed-in client, or `LinkUnusable` saying why not."""
    return _page(db, actor, _resolved(db, actor, token=token, link_id=link_id))


def resolve_reference(db: Session, actor: Actor, reference: Any) -> LinkPage:
    """The route's reference: a link id (from the portal) or the token (the URL sent)."""
    if is_link_id(reference):
        return resolve(db, actor, link_id=reference)
    return resolve(db, actor, token=reference)


def for_oauth_start(db: Session, actor: Actor, link_id: Any) -> ConnectLink:
    """The pending link an OAuth popup starts from (`oauth_lifecycle.start`)."""
    link = _resolved(db, actor, link_id=link_id)
    if _method(get_catalog().get(link.app)) != ("oauth", ""):
        raise Invalid("This app is connected with a form, not by signing in.")
    return link


def link_of_flow(db: Session, actor: Actor, link_id: str) -> ConnectLink | None:
    """The link an OAuth flow was started from (its workspace is the flow's)."""
    return scope.by_id_in_workspace(db, actor, link_id)


def mark_used(db: Session, actor: Actor, link: ConnectLink, conn: Connection) -> None:
    """Mark the link used by this connection in the caller's transaction, or raise (the
    caller rolls back: nothing is created when the link was used, revoked or expired
    meanwhile)."""
    if not scope.claim(
        db, link_id=link.id, user_id=actor.user_id, connection_id=conn.id, now=utcnow()
    ):
        raise LinkUnusable("used", "This link was used, withdrawn or expired meanwhile.")
    definition = get_catalog().find(link.app)
    _audit(db, actor, link, Action.CONNECT_LINK_USED, definition.name if definition else link.app)


def complete_with_credentials(
    db: Session,
    actor: Actor,
    *,
    link_id: Any,
    fields: Mapping[str, Any],
    vault: Vault | None = None,
) -> ConnectionView:
    """Answer a form link: the connection is created and the link used, together."""
    link = _resolved(db, actor, link_id=link_id)
    how = _method(get_catalog().get(link.app))
    if how is None or how[0] != "form":
        raise Invalid("This app connects by signing in: use the Connect button.")

    def claim(conn: Connection) -> bool:
        try:
            mark_used(db, actor, link, conn)
        except LinkUnusable:
            return False
        return True

    return connections.create_through_link(
        db,
        actor=actor,
        app=link.app,
        kind=how[1],
        label=link.label,
        fields=fields,
        claim=claim,
        vault=vault,
    )


def answered_by(db: Session, actor: Actor, link_id: Any) -> str | None:
    """The label of the connection this person made with this link, once they used it
    (the link page turns to "Connected" when the popup's connection lands); else None."""
    link = scope.by_id_in_workspace(db, actor, link_id)
    if link is None or link.used_by is None or link.used_by != actor.user_id:
        return None
    if not link.connection_id:
        return None
    try:
        return connection_scope.get_connection(db, actor, link.connection_id).label
    except NotFound:
        return None


_TITLES = {
    "invalid": "This link is not valid",
    "not_client": "This link is for a client",
    "other_client": "This link is not yours",
    "revoked": "This link was withdrawn",
    "used": "This link was already used",
    "expired": "This link has expired",
}


@dataclass(frozen=True)
class LinkLook:
    """What the link page shows: the link to answer, the connection this person made
    with it, or why it cannot be used (a title and a message, nothing else)."""

    page: LinkPage | None = None
    title: str = ""
    message: str = ""
    connected_label: str = ""


def look(db: Session, actor: Actor, *, reference: Any = None, link_id: Any = None) -> LinkLook:
    """The link page's one question: by the route's reference on load, by the link's
    id afterwards (the page keeps no token)."""
    if link_id is not None:
        done = answered_by(db, actor, link_id)
        if done:
            return LinkLook(connected_label=done)
    try:
        if link_id is not None:
            page = resolve(db, actor, link_id=link_id)
        else:
            page = resolve_reference(db, actor, reference)
    except LinkUnusable as err:
        return LinkLook(title=_TITLES.get(err.reason, "This link cannot be used"), message=str(err))
    return LinkLook(page=page)


@dataclass(frozen=True)
class AdminScreen:
    """The Connect links tab in one read: the links, the apps and the clients a
    workspace admin may choose (anyone else: all empty)."""

    links: list[LinkView]
    apps: list[RequestableApp]
    clients: list[clients.ClientPerson]


def admin_screen(db: Session, actor: Actor) -> AdminScreen:
    if not actor.is_workspace_admin:
        return AdminScreen([], [], [])
    return AdminScreen(
        list_links(db, actor), requestable_apps(db, actor), clients.client_people(db, actor)
    )
