"""The connect flow (F16, F18, F20): authorization code with PKCE S256.

`start` records a flow bound to the initiating session, workspace, person and
target, and returns the provider's authorization URL. `finish` runs in the
callback route: the state is single-use and expires after ten minutes; the code
is exchanged server-side with the sealed verifier; the external identity is read
and the same app + identity + workspace updates the existing connection in place.
Every refusal is a `FlowOutcome` with a message a person can act on; nothing is
created unless the whole exchange succeeded.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from sqlalchemy import delete, update
from sqlmodel import Session, select

from connections_app.core import audit, egress, guard, tenancy
from connections_app.core.audit import Action
from connections_app.core.catalog import get_catalog
from connections_app.core.catalog.models import AppDefinition
from connections_app.core.clock import utcnow
from connections_app.core.connections import service as connections
from connections_app.core.connections.models import Connection, Kind, Scope, Sharing, Status
from connections_app.core.errors import DomainError, Forbidden, Invalid
from connections_app.core.identity import service as identity
from connections_app.core.oauth import clients, tokens
from connections_app.core.oauth.models import OAuthFlow
from connections_app.core.tenancy import Actor, Op
from connections_app.core.vault import Sealed, Vault, VaultError
from connections_app.core.workflows.models import Node

log = logging.getLogger(__name__)
FLOW_TTL = timedelta(minutes=10)
PROVIDER_TIMEOUT = 10.0


@dataclass(frozen=True)
class FlowOutcome:
    ok: bool
    message: str
    outcome: str = "failed"  # connected | reauthorized | failed
    connection_id: str | None = None
    flow_id: str = ""  # which conversation this was: a tab reports each one once


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _oauth_app(app: Any) -> AppDefinition:
    definition = get_catalog().get(app)
    if definition.oauth is None or not any(m.kind == Kind.OAUTH2 for m in definition.auth_methods):
        raise Invalid(f"{definition.name} does not offer OAuth 2.0 sign-in.", field="app")
    if definition.oauth.grant_type != "authorization_code" or not definition.oauth.authorize_url:
        raise Invalid(f"{definition.name} connects without a sign-in window.", field="app")
    return definition


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
) -> str:
    """Record a pending flow and return the provider URL the popup goes to.

    With `node`, the flow is also bound to that node of this workspace: when it
    finishes, the connection is selected on the node (F16).
    """
    definition = _oauth_app(app)
    assert definition.oauth is not None and definition.oauth.authorize_url
    if actor.workspace_id is None or actor.user_id is None:
        raise Forbidden("Choose a workspace first.")
    if target == "new":
        if not tenancy.can_create(actor):
            raise guard.refuse(
                db,
                actor,
                "Your role does not allow you to connect accounts here.",
                what="connect an account",
                target_type="workspace",
                target_id=actor.workspace_id,
            )
    else:
        existing = tenancy.get_connection(db, actor, target)
        guard.authorize(db, actor, Op.ROTATE, existing)
        if existing.app != definition.key or existing.kind != Kind.OAUTH2:
            raise Invalid("That connection cannot be reconnected with this app.")
        if existing.scope != Scope.WORKSPACE:
            raise Invalid("Account connections are reconnected by an account admin.")
    node_id = None
    if node not in (None, ""):
        if not tenancy.can_build(actor):
            raise guard.refuse(
                db,
                actor,
                "Your role does not allow you to change workflows.",
                what="connect an account for a node",
                target_type="node",
                target_id=str(node)[:64],
            )
        bound = tenancy.get_node(db, actor, node)
        if bound.app != definition.key:
            raise Invalid("That node uses another app.")
        node_id = bound.id
    registration = clients.client_id_of(db, app=definition.key)
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    flow_id = _hash(state)
    sealed = vault.encrypt(
        db,
        tenant_id=actor.workspace_id,
        tenant_kind="workspace",
        connection_id=f"oauth-flow:{flow_id}",
        field="pkce_verifier",
        plaintext=verifier,
    )
    now = utcnow()
    db.add(
        OAuthFlow(
            id=flow_id,
            session_hash=_hash(session_token),
            account_id=actor.account_id,
            workspace_id=actor.workspace_id,
            user_id=actor.user_id,
            app=definition.key,
            target=target if target != "new" else "new",
            node_id=node_id,
            redirect_uri=redirect_uri,
            verifier_key_version=sealed.key_version,
            verifier_nonce=sealed.nonce,
            verifier_ciphertext=sealed.ciphertext,
            created_at=now,
            expires_at=now + FLOW_TTL,
        )
    )
    db.commit()
    client = OAuth2Client(  # builds a URL only: nothing is sent from here
        client_id=registration,
        redirect_uri=redirect_uri,
        scope=" ".join(definition.oauth.scopes) or None,
        code_challenge_method="S256" if definition.oauth.pkce else None,
        **egress.client_options(PROVIDER_TIMEOUT),
    )
    url, _ = client.create_authorization_url(
        definition.oauth.authorize_url,
        state=state,
        code_verifier=verifier if definition.oauth.pkce else None,
    )
    return url


def _claim(db: Session, flow_id: str) -> bool:
    """Mark the flow used; only the first caller wins, whatever happens next."""
    result = db.execute(
        update(OAuthFlow)
        .where(OAuthFlow.id == flow_id, OAuthFlow.used_at.is_(None))  # type: ignore[union-attr]
        .values(used_at=utcnow())
    )
    db.commit()
    return result.rowcount == 1  # type: ignore[attr-defined]


def _record(db: Session, flow: OAuthFlow, outcome: FlowOutcome) -> FlowOutcome:
    flow.outcome = outcome.outcome
    flow.message = outcome.message[:500]
    flow.connection_id = outcome.connection_id
    db.add(flow)
    db.commit()
    return outcome


def _fail(db: Session, flow: OAuthFlow | None, message: str) -> FlowOutcome:
    outcome = FlowOutcome(False, message)
    return _record(db, flow, outcome) if flow is not None else outcome


def finish(
    db: Session,
    *,
    session_token: str | None,
    params: dict[str, str],
    vault: Vault,
) -> FlowOutcome:
    """Complete a flow from the callback's query parameters."""
    state = params.get("state")
    if not isinstance(state, str) or not 20 <= len(state) <= 200:
        return FlowOutcome(False, "This sign-in link is not valid. Start again from Connect.")
    flow = db.get(OAuthFlow, _hash(state))
    if flow is None:
        return FlowOutcome(False, "This sign-in is unknown. Start again from Connect.")
    if not _claim(db, flow.id):
        return FlowOutcome(False, "This sign-in was already used. Start again from Connect.")
    db.refresh(flow)
    if not session_token or _hash(session_token) != flow.session_hash:
        return _fail(db, flow, "This sign-in was started from another session. Start again.")
    if utcnow() > flow.expires_at:
        return _fail(db, flow, "This sign-in expired after 10 minutes. Start again from Connect.")
    definition = get_catalog().get(flow.app)
    if params.get("error"):
        if params["error"] == "access_denied":
            message = f"You declined access at {definition.name}. Nothing was connected."
        else:
            message = f"{definition.name} refused the sign-in ({params['error'][:60]})."
        return _fail(db, flow, message)
    code = params.get("code")
    if not isinstance(code, str) or not 1 <= len(code) <= 2048:
        return _fail(db, flow, f"{definition.name} sent no authorization code. Start again.")
    try:
        actor = identity.actor_for_token(db, session_token)
    except DomainError:
        return _fail(db, flow, "Your session ended. Sign in and start again.")
    if actor.workspace_id != flow.workspace_id or actor.user_id != flow.user_id:
        return _fail(db, flow, "You switched workspace while connecting. Start again.")
    try:
        token = _exchange(db, flow, definition, code, vault)
        external_id, external_name = tokens.read_identity(definition, token)
    except tokens.ProviderError as err:
        return _fail(db, flow, str(err))
    except VaultError:
        db.rollback()
        return _fail(db, flow, "A stored secret of this sign-in could not be read. Start again.")
    try:
        outcome = _save(db, actor, flow, definition, token, external_id, external_name, vault)
    except DomainError as err:
        db.rollback()
        return _fail(db, flow, str(err))
    finally:
        token.clear()
    return _record(db, flow, outcome)


def _exchange(
    db: Session,
    flow: OAuthFlow,
    definition: AppDefinition,
    code: str,
    vault: Vault,
) -> dict[str, Any]:
    assert definition.oauth is not None
    creds = clients.credentials(db, vault=vault, app=definition.key)
    verifier = vault.decrypt(
        db,
        tenant_id=flow.workspace_id,
        connection_id=f"oauth-flow:{flow.id}",
        field="pkce_verifier",
        sealed=Sealed(flow.verifier_key_version, flow.verifier_nonce, flow.verifier_ciphertext),
    )
    db.commit()  # read what the exchange needs; no transaction stays open across it
    client = OAuth2Client(
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        redirect_uri=flow.redirect_uri,
        **egress.client_options(PROVIDER_TIMEOUT),
    )
    try:
        with client:
            return dict(
                client.fetch_token(
                    definition.oauth.token_url,
                    code=code,
                    code_verifier=verifier if definition.oauth.pkce else None,
                )
            )
    except OAuthError as err:
        raise tokens.ProviderError(
            f"{definition.name} refused the code exchange ({err.error})."
        ) from None
    except httpx.HTTPError as err:
        refused = egress.describe(err)
        raise tokens.ProviderError(
            refused or f"{definition.name} is unreachable ({type(err).__name__}). Try again."
        ) from None


def _unique_label(db: Session, tenant_id: str, base: str) -> str:
    candidate, n = base[:120], 1
    while tenancy.owner_has(
        db, tenant_id=tenant_id, column=Connection.label_key, value=connections.label_key(candidate)
    ):
        n += 1
        suffix = f" ({n})"
        candidate = base[: 120 - len(suffix)] + suffix
    return candidate


def _save(
    db: Session,
    actor: Actor,
    flow: OAuthFlow,
    definition: AppDefinition,
    token: dict[str, Any],
    external_id: str | None,
    external_name: str | None,
    vault: Vault,
) -> FlowOutcome:
    existing: Connection | None = None
    if flow.target != "new":
        existing = tenancy.get_connection(db, actor, flow.target, for_update=True)
        if existing.external_identity and external_id and existing.external_identity != external_id:
            raise Invalid(
                f"You signed in to a different {definition.name} account than this "
                "connection uses. Sign in with the same account, or connect a new one."
            )
    elif external_id:
        existing = tenancy.find_by_external_identity(
            db, workspace_id=flow.workspace_id, app=definition.key, identity=external_id
        )
    if existing is not None:
        if not tenancy.check(actor, Op.ROTATE, existing):
            raise guard.refuse(
                db,
                actor,
                "This account is already connected here by someone else.",
                what="reconnect an account connected by someone else",
                connection=existing,
            )
        tokens.store_token_response(db, vault, existing, token, keep_refresh=False)
        existing.status, existing.status_reason = Status.ACTIVE, None
        existing.external_identity = external_id or existing.external_identity
        existing.external_name = external_name or existing.external_name
        existing.authorized_by = actor.user_id
        existing.refresh_failures = 0
        db.add(existing)
        audit.record_for_connection(
            db,
            existing,
            Action.REAUTHORIZED,
            actor_id=actor.user_id,
            actor_label=actor.label,
            detail=_select_on_node(db, actor, flow, existing),
        )
        db.commit()  # its audit event signals every open tab (the banner may clear)
        return FlowOutcome(
            True,
            f"Reconnected “{existing.label}”. Runs waiting for it continue.",
            "reauthorized",
            existing.id,
        )
    who = external_name or external_id
    label = _unique_label(
        db, flow.workspace_id, f"{definition.name} ({who})" if who else definition.name
    )
    now = utcnow()
    conn = Connection(
        account_id=actor.account_id,
        workspace_id=flow.workspace_id,
        tenant_id=flow.workspace_id,
        scope=Scope.WORKSPACE,
        app=definition.key,
        label=label,
        label_key=connections.label_key(label),
        stable_key=connections.unique_stable_key(
            db, flow.workspace_id, connections.suggest_stable_key(label)
        ),
        kind=Kind.OAUTH2,
        status=Status.ACTIVE,
        sharing=Sharing.USE,
        config={},
        external_identity=external_id,
        external_name=external_name,
        created_by=actor.user_id,
        authorized_by=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    db.add(conn)
    db.flush()
    tokens.store_token_response(db, vault, conn, token, keep_refresh=False)
    audit.record_for_connection(
        db,
        conn,
        Action.CREATED,
        actor_id=actor.user_id,
        actor_label=actor.label,
        detail={"kind": "oauth2", **_select_on_node(db, actor, flow, conn)},
    )
    db.commit()
    return FlowOutcome(True, f"Connected “{conn.label}”.", "connected", conn.id)


def _select_on_node(db: Session, actor: Actor, flow: OAuthFlow, conn: Connection) -> dict:
    """F16: the node the popup was opened from now uses this connection.

    Checked again at the end (the node may have gone, or changed app, meanwhile);
    recorded in the connection's audit event of the same transaction.
    """
    if not flow.node_id or not tenancy.can_build(actor):
        return {}
    node = db.exec(
        tenancy.nodes_query(actor).where(Node.id == flow.node_id).with_for_update()
    ).first()
    if node is None or node.app != conn.app or not tenancy.check(actor, Op.USE, conn):
        return {}
    if node.auth_kind and node.auth_kind != conn.kind:
        return {}
    node.connection_id, node.updated_at = conn.id, utcnow()
    db.add(node)
    return {"node": node.id}


def latest_outcome(db: Session, *, session_token: str | None) -> FlowOutcome | None:
    """What the newest finished flow of this session said (the opener asks after the popup)."""
    if not session_token:
        return None
    return latest_outcome_for_ref(db, session_ref=_hash(session_token))


def latest_outcome_for_ref(db: Session, *, session_ref: str | None) -> FlowOutcome | None:
    """`latest_outcome` for the websocket, which knows its session only by reference.

    A flow stores SHA-256 of the initiating session token, which is exactly the
    session reference (see `identity.session_ref`), so no token is needed here.
    """
    if not isinstance(session_ref, str) or len(session_ref) != 64:
        return None
    row = db.exec(
        select(OAuthFlow)
        .where(
            OAuthFlow.session_hash == session_ref,
            OAuthFlow.outcome.is_not(None),  # type: ignore[union-attr]
        )
        .order_by(OAuthFlow.used_at.desc())  # type: ignore[union-attr]
    ).first()
    if row is None:
        return None
    return FlowOutcome(
        row.outcome in ("connected", "reauthorized"),
        row.message or "",
        row.outcome or "failed",
        row.connection_id,
        row.id,
    )


def purge_finished(db: Session) -> int:
    """Forget flows older than a day; their verifiers were sealed and are useless now."""
    cutoff = utcnow() - timedelta(days=1)
    result = db.execute(delete(OAuthFlow).where(OAuthFlow.created_at < cutoff))  # type: ignore[arg-type]
    db.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
