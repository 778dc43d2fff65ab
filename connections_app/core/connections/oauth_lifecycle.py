"""Connections made by signing in (F16, F18, F20): the orchestration between the
connect flow (`oauth.flow`, `oauth.provider`) and the connection rows, which only
this package writes.

`start` checks what the person may connect (a new account, a reconnect of a
connection, a node to select it on) and has the flow recorded. `finish` lets the
flow check the callback and exchange the code, then creates the connection from
the tokens — or, for the same app + identity + workspace, reauthorizes the
existing one in place — and selects it on the node in the same transaction.
Nothing is created unless the whole exchange succeeded.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from connections_app.core import audit, guard
from connections_app.core.audit import Action
from connections_app.core.clock import utcnow
from connections_app.core.connections import connect_links, lifecycle, tokens
from connections_app.core.connections import service as connections
from connections_app.core.connections.models import (
    Connection,
    ConnectLink,
    Kind,
    Scope,
    Sharing,
    Status,
)
from connections_app.core.errors import DomainError, Forbidden, Invalid, NotFound
from connections_app.core.identity import service as identity
from connections_app.core.oauth import apps, flow
from connections_app.core.oauth.flow import Authorized, FlowOutcome
from connections_app.core.oauth.models import OAuthFlow
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.tenancy import policy
from connections_app.core.tenancy import workflows as workflow_scope
from connections_app.core.tenancy.actor import Actor
from connections_app.core.tenancy.policy import Op
from connections_app.core.vault import Vault
from connections_app.core.workflows.models import Node

CONNECTED_MEANWHILE = (
    "This was connected at the same moment from another window. Nothing more was saved."
)


def start(
    db: Session,
    *,
    actor: Actor,
    session_token: str,
    app: Any,
    redirect_uri: str,
    vault: Vault,
    target: Any = "new",
    node: Any = None,
    oauth_app: Any = None,
    another_account: Any = False,
    scope: Any = Scope.WORKSPACE,
    link: Any = None,
) -> str:
    """Record a pending flow and return the provider URL the popup goes to.

    `scope="account"` connects an account connection (F9, F26): account admins only,
    never bound to a node (it reaches workspaces through grants, not by being picked
    where it was made).

    With `node`, the flow is also bound to that node of this workspace: when it
    finishes, the connection is selected on the node (F16). A custom provider names
    which of the account's OAuth apps to sign in through (`oauth_app`; a reconnect uses
    the connection's own). `another_account` asks the provider to let the person
    choose an account ("Connect another account").

    With `link` (a connect link's id, F24) the signed-in client answers that link: the
    link, resolved for this very person, is the permission (a client's role creates
    nothing otherwise) and decides the app and custom provider; the flow records it.
    """
    if actor.workspace_id is None or actor.user_id is None:
        raise Forbidden("Choose a workspace first.")
    if link is not None:
        return _start_from_link(
            db,
            actor=actor,
            session_token=session_token,
            link=link,
            redirect_uri=redirect_uri,
            vault=vault,
        )
    definition = flow.oauth_app(app)
    if scope not in (Scope.WORKSPACE, Scope.ACCOUNT):
        raise Invalid("Choose where the connection belongs.", field="scope")
    oauth_app_id: str | None = None
    if target == "new":
        guard.require_create(
            db, actor, "connect accounts", what="connect an account", scope=Scope(scope)
        )
        if definition.key == apps.CUSTOM:
            oauth_app_id = apps.custom_app_id(db, actor, oauth_app)
    else:
        existing = connection_scope.get_connection(db, actor, target)
        guard.authorize(db, actor, Op.ROTATE, existing)  # account ones: account admins
        if existing.app != definition.key or existing.kind != Kind.OAUTH2:
            raise Invalid("That connection cannot be reconnected with this app.")
        scope = existing.scope
        if definition.key == apps.CUSTOM:
            oauth_app_id = str((existing.config or {}).get("oauth_app_id") or "") or None
    if scope == Scope.ACCOUNT and node:
        raise Invalid(
            "An account connection is not connected from a node: grant it to the "
            "workspace, then pick it.",
            field="node",
        )
    bound = lifecycle.node_to_select(
        db, actor, node, app=definition.key, kind=None, what="connect an account for a node"
    )
    return flow.begin(
        db,
        actor=actor,
        session_token=session_token,
        definition=definition,
        redirect_uri=redirect_uri,
        vault=vault,
        target=target if target != "new" else "new",
        node_id=bound.id if bound else None,
        oauth_app_id=oauth_app_id,
        another_account=another_account is True,
        scope=str(Scope(scope)),
    )


def _start_from_link(
    db: Session,
    *,
    actor: Actor,
    session_token: str,
    link: Any,
    redirect_uri: str,
    vault: Vault,
) -> str:
    bound = connect_links.for_oauth_start(db, actor, link)
    return flow.begin(
        db,
        actor=actor,
        session_token=session_token,
        definition=flow.oauth_app(bound.app),
        redirect_uri=redirect_uri,
        vault=vault,
        target="new",
        node_id=None,
        oauth_app_id=bound.oauth_app_id,
        scope=str(Scope.WORKSPACE),
        connect_link_id=bound.id,
    )


def finish(
    db: Session,
    *,
    session_token: str | None,
    params: dict[str, str],
    vault: Vault,
) -> FlowOutcome:
    """Complete a flow from the callback's query parameters."""
    done = flow.complete(
        db,
        session_token=session_token,
        params=params,
        vault=vault,
        actor_for_token=identity.actor_for_token,
    )
    if isinstance(done, FlowOutcome):
        return done
    try:
        outcome = _save(db, done, vault)
    except DomainError as err:
        db.rollback()
        return flow.fail(db, done.flow, str(err))
    except IntegrityError:
        # Another callback saved the same connection (or answered the same link) at this
        # very moment: its label or claim won, this one saves nothing.
        db.rollback()
        return flow.fail(db, done.flow, CONNECTED_MEANWHILE)
    finally:
        done.token.clear()
    return flow.record(db, done.flow, outcome)


def _flow_node(db: Session, actor: Actor, bound: OAuthFlow) -> Node | None:
    """The node the popup was opened from, if it is still there (locked for the update)."""
    if not bound.node_id:
        return None
    try:
        return workflow_scope.get_node(db, actor, bound.node_id, for_update=True)
    except NotFound:
        return None


def _save(db: Session, done: Authorized, vault: Vault) -> FlowOutcome:
    actor, bound, definition = done.actor, done.flow, done.definition
    existing: Connection | None = None
    if bound.target != "new":
        existing = connection_scope.get_connection(db, actor, bound.target, for_update=True)
        if existing.external_identity and existing.external_identity != done.external_id:
            raise Invalid(
                f"You signed in to a different {_name(done)} account "
                f"({done.external_name or done.external_id or 'unknown'}) than this connection "
                f"uses ({existing.external_name or existing.external_identity}). Nothing was "
                "changed. Sign in with the same account, or connect a new one."
            )
    elif done.external_id:
        existing = connection_scope.find_by_external_identity(
            db,
            owner_id=_owner(bound)[1],
            app=definition.key,
            identity=done.external_id,
            oauth_app_id=bound.oauth_app_id,
        )
    if existing is not None:
        return _reauthorize(db, done, existing, vault)
    return _create_from_tokens(db, done, vault)


def _link(db: Session, done: Authorized) -> ConnectLink | None:
    """The connect link this flow answers, if it was started from one (F24)."""
    if not done.flow.connect_link_id:
        return None
    link = connect_links.link_of_flow(db, done.actor, done.flow.connect_link_id)
    if link is None:
        raise Invalid("The link this sign-in answers is gone. Nothing was connected.")
    return link


def _reauthorize(db: Session, done: Authorized, existing: Connection, vault: Vault) -> FlowOutcome:
    """The same external account signed in again: new tokens on the same row (F18, F20)."""
    actor = done.actor
    if not policy.check(actor, Op.ROTATE, existing):
        raise guard.refuse(
            db,
            actor,
            "This account is already connected here by someone else.",
            what="reconnect an account connected by someone else",
            connection=existing,
        )
    if done.definition.key == apps.CUSTOM and done.flow.oauth_app_id:
        # Where its tokens go is the account OAuth app's answer now, not an earlier edit;
        # set before sealing, so the tokens are bound to exactly this destination.
        existing.config = apps.connection_config(
            db, account_id=done.flow.account_id, oauth_app_id=done.flow.oauth_app_id
        )
    tokens.store_token_response(db, vault, existing, done.token, keep_refresh=False)
    lifecycle.mark_active(existing)
    existing.external_identity = done.external_id or existing.external_identity
    existing.external_name = done.external_name or existing.external_name
    existing.authorized_by = actor.user_id
    existing.refresh_failures = 0
    db.add(existing)
    node = _flow_node(db, actor, done.flow)
    link = _link(db, done)
    if link is not None:
        connect_links.mark_used(db, actor, link, existing)
    lifecycle.signal_if_account(db, existing)
    audit.record_by(
        db,
        actor,
        existing,
        Action.REAUTHORIZED,
        in_actor_workspace=False,
        detail=lifecycle.select_on_node(db, actor, node, existing),
    )
    db.commit()  # its audit event signals every open tab (the banner may clear)
    return FlowOutcome(
        True,
        f"Reconnected “{existing.label}”. Runs waiting for it continue.",
        "reauthorized",
        existing.id,
    )


def _name(done: Authorized) -> str:
    """The provider as people know it: a custom provider's registered name."""
    return done.settings.name if done.settings else done.definition.name


def _owner(bound: OAuthFlow) -> tuple[str | None, str]:
    """(workspace_id, tenant_id) of what this flow connects: the workspace it was started
    in, or for an account connection the account (whose data key seals its tokens)."""
    if bound.scope == Scope.ACCOUNT:
        return None, bound.account_id
    return bound.workspace_id, bound.workspace_id


def _create_from_tokens(db: Session, done: Authorized, vault: Vault) -> FlowOutcome:
    actor, bound, definition = done.actor, done.flow, done.definition
    if bound.scope == Scope.ACCOUNT and not policy.can_create(actor, scope=Scope.ACCOUNT):
        # Checked at the start too; the person may have lost the role meanwhile.
        raise Forbidden("Only account admins connect account connections.")
    workspace_id, owner_id = _owner(bound)
    who = done.external_name or done.external_id
    name = _name(done)
    link = _link(db, done)
    if link is not None:
        label = connections.unique_label(db, owner_id, link.label)
    else:
        label = connections.unique_label(db, owner_id, f"{name} ({who})" if who else name)
    config: dict[str, str] = {}
    if definition.key == apps.CUSTOM and bound.oauth_app_id:
        config = apps.connection_config(
            db, account_id=bound.account_id, oauth_app_id=bound.oauth_app_id
        )
    now = utcnow()
    conn = Connection(
        account_id=actor.account_id,
        workspace_id=workspace_id,
        tenant_id=owner_id,
        scope=Scope(bound.scope),
        app=definition.key,
        label=label,
        label_key=connections.label_key(label),
        stable_key=connections.unique_stable_key(
            db, owner_id, connections.suggest_stable_key(label)
        ),
        kind=Kind.OAUTH2,
        status=Status.ACTIVE,
        sharing=Sharing.USE,
        config=config,
        external_identity=done.external_id,
        external_name=done.external_name,
        created_by=actor.user_id,
        authorized_by=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    db.add(conn)
    db.flush()
    tokens.store_token_response(db, vault, conn, done.token, keep_refresh=False)
    node = _flow_node(db, actor, bound)
    if link is not None:
        connect_links.mark_used(db, actor, link, conn)
    detail = {"kind": "oauth2", **lifecycle.select_on_node(db, actor, node, conn)}
    lifecycle.signal_if_account(db, conn)
    audit.record_by(db, actor, conn, Action.CREATED, in_actor_workspace=False, detail=detail)
    db.commit()
    return FlowOutcome(True, f"Connected “{conn.label}”.", "connected", conn.id)
