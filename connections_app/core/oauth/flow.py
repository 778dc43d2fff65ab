"""The connect flow's records (F16, F18, F20): authorization code with PKCE S256.

`begin` records a flow bound to the initiating session, workspace, person,
target and node, seals its PKCE verifier, and returns the provider's
authorization URL. `complete` runs in the callback: the state is single-use and
expires after ten minutes; the session and workspace must still match; the code
is exchanged server-side with the sealed verifier and the external identity is
read. What becomes of the tokens (a new connection, or one reauthorized in place)
is decided by `connections.oauth_lifecycle`, which calls these; this module never
touches a connection. Every refusal is a `FlowOutcome` a person can act on.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, select

from connections_app.core.catalog import get_catalog
from connections_app.core.catalog.models import AppDefinition
from connections_app.core.clock import utcnow
from connections_app.core.errors import DomainError, Invalid
from connections_app.core.oauth import apps, provider
from connections_app.core.oauth.models import OAuthFlow
from connections_app.core.oauth.provider import ProviderSettings
from connections_app.core.tenancy.actor import Actor
from connections_app.core.vault import Sealed, SealedPlace, Vault, VaultError

FLOW_TTL = timedelta(minutes=10)
OAUTH2 = "oauth2"


@dataclass(frozen=True)
class FlowOutcome:
    ok: bool
    message: str
    outcome: str = "failed"  # connected | reauthorized | failed
    connection_id: str | None = None
    flow_id: str = ""  # which conversation this was: a tab reports each one once


@dataclass
class Authorized:
    """A finished conversation: the tokens and who they belong to, for the lifecycle."""

    flow: OAuthFlow
    actor: Actor
    definition: AppDefinition
    token: dict[str, Any]
    external_id: str | None
    external_name: str | None
    settings: ProviderSettings | None = None

    def __repr__(self) -> str:  # never print the tokens, even in a traceback
        return f"Authorized(app={self.definition.key!r}, flow={self.flow.id[:8]}…)"


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def oauth_app(app: Any) -> AppDefinition:
    """The catalog app, if it offers sign-in with a browser window."""
    definition = get_catalog().get(app)
    if definition.key == apps.CUSTOM:
        return definition  # its endpoints are the account's OAuth app's
    if definition.oauth is None or not any(m.kind == OAUTH2 for m in definition.auth_methods):
        raise Invalid(f"{definition.name} does not offer OAuth 2.0 sign-in.", field="app")
    if definition.oauth.grant_type != "authorization_code" or not definition.oauth.authorize_url:
        raise Invalid(f"{definition.name} connects without a sign-in window.", field="app")
    return definition


def begin(
    db: Session,
    *,
    actor: Actor,
    session_token: str,
    definition: AppDefinition,
    redirect_uri: str,
    vault: Vault,
    target: str,
    node_id: str | None,
    oauth_app_id: str | None = None,
    another_account: bool = False,
    scope: str = "workspace",
    connect_link_id: str | None = None,
) -> str:
    """Record a pending flow (the caller checked what the actor may start) and return
    the provider URL the popup goes to. The account's OAuth app registration is used
    when it has one, else the installation's."""
    assert actor.workspace_id is not None and actor.user_id is not None
    settings, registration = apps.settings_for(
        db, account_id=actor.account_id, definition=definition, oauth_app_id=oauth_app_id
    )
    if not settings.authorize_url:
        raise Invalid(f"{settings.name} has no authorize URL.", field="app")
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    flow_id = _hash(state)
    sealed = vault.encrypt(
        db,
        place=SealedPlace.oauth_flow(actor.workspace_id, flow_id),
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
            target=target,
            node_id=node_id,
            oauth_app_id=oauth_app_id,
            another_account=another_account,
            scope=scope,
            connect_link_id=connect_link_id,
            redirect_uri=redirect_uri,
            verifier_key_version=sealed.key_version,
            verifier_nonce=sealed.nonce,
            verifier_ciphertext=sealed.ciphertext,
            created_at=now,
            expires_at=now + FLOW_TTL,
        )
    )
    db.commit()
    return provider.authorization_url(
        settings,
        client_id=registration,
        redirect_uri=redirect_uri,
        state=state,
        verifier=verifier,
        another_account=another_account,
    )


def _claim(db: Session, flow_id: str) -> bool:
    """Mark the flow used; only the first caller wins, whatever happens next."""
    result = db.execute(
        update(OAuthFlow)
        .where(OAuthFlow.id == flow_id, OAuthFlow.used_at.is_(None))  # type: ignore[union-attr]
        .values(used_at=utcnow())
    )
    db.commit()
    return result.rowcount == 1  # type: ignore[attr-defined]


def record(db: Session, flow: OAuthFlow, outcome: FlowOutcome) -> FlowOutcome:
    """Remember what the flow came to (the opener asks for it after the popup closes)."""
    flow.outcome = outcome.outcome
    flow.message = outcome.message[:500]
    flow.connection_id = outcome.connection_id
    db.add(flow)
    db.commit()
    return outcome


def fail(db: Session, flow: OAuthFlow | None, message: str) -> FlowOutcome:
    outcome = FlowOutcome(False, message)
    return record(db, flow, outcome) if flow is not None else outcome


def complete(
    db: Session,
    *,
    session_token: str | None,
    params: dict[str, str],
    vault: Vault,
    actor_for_token: Callable[[Session, str], Actor],
) -> Authorized | FlowOutcome:
    """Check the callback's query parameters against the flow, exchange the code and read
    who signed in; a refusal comes back as a (recorded) `FlowOutcome`.

    Who the session belongs to is the caller's answer (`actor_for_token`): the provider
    conversation has no business knowing identity's session rows or the policy behind them."""
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
        return fail(db, flow, "This sign-in was started from another session. Start again.")
    if utcnow() > flow.expires_at:
        return fail(db, flow, "This sign-in expired after 10 minutes. Start again from Connect.")
    definition = get_catalog().get(flow.app)
    try:
        settings, _client_id = apps.settings_for(
            db, account_id=flow.account_id, definition=definition, oauth_app_id=flow.oauth_app_id
        )
    except DomainError as err:
        return fail(db, flow, str(err))
    refused = _issuer_refusal(settings, params)
    if refused:
        return fail(db, flow, refused)
    if params.get("error"):
        described = provider.clean_description(params.get("error_description"))
        said = f" {settings.name} said: “{described}”" if described else ""
        if params["error"] == "access_denied":
            message = f"You declined access at {settings.name}. Nothing was connected.{said}"
        else:
            error = provider.clean_description(params["error"], 60)
            message = f"{settings.name} refused the sign-in ({error}).{said}"
        return fail(db, flow, message)
    code = params.get("code")
    if not isinstance(code, str) or not 1 <= len(code) <= 2048:
        return fail(db, flow, f"{settings.name} sent no authorization code. Start again.")
    try:
        actor = actor_for_token(db, session_token)
    except DomainError:
        return fail(db, flow, "Your session ended. Sign in and start again.")
    if actor.workspace_id != flow.workspace_id or actor.user_id != flow.user_id:
        return fail(db, flow, "You switched workspace while connecting. Start again.")
    nonce = provider.nonce_for(state) if "openid" in settings.scopes else None
    try:
        token, settings, client_id = _exchange(db, flow, definition, code, vault)
        external_id, external_name = provider.read_identity(
            settings, token, client_id=client_id, nonce=nonce
        )
    except provider.ProviderError as err:
        return fail(db, flow, str(err))
    except DomainError as err:  # the registration went away meanwhile
        db.rollback()
        return fail(db, flow, str(err))
    except VaultError:
        db.rollback()
        return fail(db, flow, "A stored secret of this sign-in could not be read. Start again.")
    return Authorized(flow, actor, definition, token, external_id, external_name, settings)


def _issuer_refusal(settings: ProviderSettings, params: dict[str, str]) -> str | None:
    """RFC 9207: an authorization response names its issuer; a wrong one (a mix-up
    attack) or a missing one where the provider advertises it is refused before the
    code or any error is believed."""
    iss = params.get("iss")
    if iss is None:
        if settings.iss_required:
            return (
                f"{settings.name} did not say who answered (no “iss”), although it "
                "advertises it. Nothing was connected."
            )
        return None
    if settings.issuer and iss != settings.issuer:
        return (
            f"The answer came from another issuer than {settings.name}'s "
            f"(“{provider.clean_description(iss, 80)}”). Nothing was connected."
        )
    return None


def _exchange(
    db: Session,
    flow: OAuthFlow,
    definition: AppDefinition,
    code: str,
    vault: Vault,
) -> tuple[dict[str, Any], ProviderSettings, str]:
    resolved = apps.resolve(
        db,
        vault=vault,
        account_id=flow.account_id,
        definition=definition,
        oauth_app_id=flow.oauth_app_id,
    )
    verifier = vault.decrypt(
        db,
        place=SealedPlace.oauth_flow(flow.workspace_id, flow.id),
        sealed=Sealed(flow.verifier_key_version, flow.verifier_nonce, flow.verifier_ciphertext),
    )
    db.commit()  # read what the exchange needs; no transaction stays open across it
    token = provider.exchange_code(
        resolved.settings,
        client_id=resolved.credentials.client_id,
        client_secret=resolved.credentials.client_secret or None,
        redirect_uri=flow.redirect_uri,
        code=code,
        verifier=verifier,
    )
    return token, resolved.settings, resolved.credentials.client_id


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
