"""An account's OAuth app registrations (F27, global values), and which registration a
provider call uses.

An account admin registers a client once per account: for a catalog OAuth app (its
client id and secret replace the installation's; the endpoints stay the catalog's)
or for a custom provider (several per account, each named, with its endpoints,
scopes, extra authorize parameters, client authentication, PKCE switch, identity
rule, test path and API base URL). The client secret is sealed under the account's
data key, write-only: only its masked tail is ever shown. Connections hold only their
own tokens, so rotating the secret here applies to every workspace's connections at
the next provider call.

Resolution (`resolve`): the account's registration first, the installation's
(`connections-admin oauth-client set`) as the fallback for catalog apps.

Where tokens go never changes under existing connections: a registration that
connections use cannot change its client id, its endpoints or its API base URL —
the admin revokes (or deletes) those connections first, or registers a new app.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from connections_app.core import alerts, audit
from connections_app.core.catalog import get_catalog
from connections_app.core.catalog.models import AppDefinition
from connections_app.core.clock import utcnow
from connections_app.core.errors import Conflict, Forbidden, Invalid, NotFound
from connections_app.core.oauth import clients, provider
from connections_app.core.oauth.clients import ClientCredentials
from connections_app.core.oauth.models import AccountOAuthApp
from connections_app.core.oauth.provider import ProviderError, ProviderSettings
from connections_app.core.tenancy import oauth_apps as scope
from connections_app.core.tenancy.actor import Actor
from connections_app.core.validation import clean_text
from connections_app.core.vault import SealedPlace, Vault, masked_tail

CUSTOM = "custom_oauth2"
_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]{3,500}")
_SCOPES = re.compile(r"[\x21-\x7e]+( [\x21-\x7e]+)*")
_FIELD_PATH = re.compile(r"[A-Za-z0-9_\-]{1,60}(\.[A-Za-z0-9_\-]{1,60}){0,4}")
_PARAM_VALUE = re.compile(r"[\x21-\x7e]+( [\x21-\x7e]+)*")
_PROMPTS = {"none", "login", "consent", "select_account"}
_ENDPOINTS = ("issuer", "authorize_url", "token_url", "revocation_url", "userinfo_url", "jwks_url")
# Fields that decide where tokens or the client secret go: frozen while connections use it.
_WHERE_TOKENS_GO = ("client_id", "token_url", "revocation_url", "userinfo_url", "api_base_url")
_MANAGE = "Only account admins manage OAuth apps."


@dataclass(frozen=True)
class OAuthAppView:
    """One registration as the OAuth apps screen shows it: never the secret, only its tail."""

    id: str
    app: str
    app_name: str
    name: str
    is_custom: bool
    client_id: str
    secret_tail: str
    has_secret: bool
    issuer: str
    authorize_url: str
    token_url: str
    revocation_url: str
    userinfo_url: str
    jwks_url: str
    iss_required: bool
    scopes: str
    extra_params: dict[str, str]
    token_auth_method: str
    pkce: bool
    identity_field: str
    name_field: str
    test_path: str
    api_base_url: str
    used_by: tuple[str, ...]  # labels of the connections whose tokens came through it
    updated_at: datetime


@dataclass(frozen=True)
class Resolved:
    """What a provider call needs: the settings and the client (secret inside, dropped
    by the caller right after the call)."""

    settings: ProviderSettings
    credentials: ClientCredentials
    source: str  # account | installation


# --- reading ----------------------------------------------------------------------


def _require_admin(actor: Actor) -> None:
    if not actor.is_account_admin:
        raise Forbidden(_MANAGE)


def _view(db: Session, row: AccountOAuthApp) -> OAuthAppView:
    custom = row.app == CUSTOM
    return OAuthAppView(
        id=row.id,
        app=row.app,
        app_name=get_catalog().get(row.app).name,
        name=row.name,
        is_custom=custom,
        client_id=row.client_id,
        secret_tail=row.secret_tail,
        has_secret=row.secret_ciphertext is not None,
        issuer=row.issuer or "",
        authorize_url=row.authorize_url or "",
        token_url=row.token_url or "",
        revocation_url=row.revocation_url or "",
        userinfo_url=row.userinfo_url or "",
        jwks_url=row.jwks_url or "",
        iss_required=row.iss_required,
        scopes=row.scopes,
        extra_params=dict(row.extra_params or {}),
        token_auth_method=row.token_auth_method,
        pkce=row.pkce,
        identity_field=row.identity_field or "",
        name_field=row.name_field or "",
        test_path=row.test_path or "",
        api_base_url=row.api_base_url or "",
        used_by=tuple(scope.connections_using(db, row, custom=custom)),
        updated_at=row.updated_at,
    )


def list_apps(db: Session, actor: Actor) -> list[OAuthAppView]:
    """The account's registrations, for its admins."""
    _require_admin(actor)
    return [_view(db, row) for row in scope.apps_of(db, actor)]


def get_app(db: Session, actor: Actor, app_id: Any) -> OAuthAppView:
    _require_admin(actor)
    return _view(db, scope.get_app(db, actor, app_id))


def registrable_apps() -> list[tuple[str, str]]:
    """(key, name) of the catalog apps an account can register a client for: those a
    person signs in to, plus Custom OAuth 2.0."""
    return [(d.key, d.name) for d in get_catalog().apps if d.offers_sign_in or d.key == CUSTOM]


def custom_providers(db: Session, actor: Actor) -> list[tuple[str, str]]:
    """(id, name) of the account's custom providers, for a member's Connect picker."""
    if actor.workspace_id is None and not actor.is_account_admin:
        return []
    return [(r.id, r.name) for r in scope.custom_apps_for_members(db, actor, app=CUSTOM)]


def sign_in_available(db: Session, actor: Actor, app: str) -> bool:
    """Can a member of the actor's account connect this app by signing in? Its account
    registration, else the installation's; a custom provider needs one of the account's."""
    if app == CUSTOM:
        return bool(scope.custom_apps_for_members(db, actor, app=CUSTOM))
    if scope.registration_for_system(db, account_id=actor.account_id, slot=app) is not None:
        return True
    return app in clients.registered_apps(db)


def custom_app_id(db: Session, actor: Actor, oauth_app: Any) -> str:
    """The account's custom provider a member connects with (hostile id: not found)."""
    row = scope.get_app(db, actor, oauth_app)
    if row.app != CUSTOM:
        raise NotFound("OAuth app not found.")
    return row.id


def discover(actor: Actor, issuer: Any) -> provider.Discovered:
    """The endpoints an OpenID Connect issuer publishes, to fill the form (egress-guarded;
    account admins only: it makes the server send a request)."""
    _require_admin(actor)
    url = _url(issuer, "issuer", "Issuer URL", required=True)
    assert url is not None
    return provider.discover(url)


# --- validation -------------------------------------------------------------------


def _url(value: Any, field: str, label: str, *, required: bool = False) -> str | None:
    text = clean_text(value, field=field, label=label, max_length=512, required=required)
    if not text:
        return None
    if not _URL.fullmatch(text):
        raise Invalid(f"{label} must be an http(s) URL.", field=field)
    return text


def _optional(value: Any, pattern: re.Pattern[str], field: str, label: str, limit: int) -> str:
    text = clean_text(value, field=field, label=label, max_length=limit, required=False)
    if text and not pattern.fullmatch(text):
        raise Invalid(f"{label} is not in the expected format.", field=field)
    return text


def _extra_params(value: Any) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, Mapping):
        raise Invalid("Extra parameters must be name and value pairs.", field="extra_params")
    cleaned: dict[str, str] = {}
    for key, raw in value.items():
        if key not in provider.EXTRA_PARAMS:
            allowed = ", ".join(provider.EXTRA_PARAMS)
            raise Invalid(
                f"Extra parameter “{str(key)[:40]}” is not allowed (only {allowed}).",
                field="extra_params",
            )
        text = _optional(raw, _PARAM_VALUE, "extra_params", key, 200)
        if key == "prompt" and text and not set(text.split()) <= _PROMPTS:
            raise Invalid("prompt is none, login, consent or select_account.", field="extra_params")
        if text:
            cleaned[key] = text
    return cleaned


def _secret(value: Any) -> str | None:
    """The client secret as typed; None when left empty (keep / none)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 1024:
        raise Invalid(
            "The client secret must be text of at most 1024 characters.", field="client_secret"
        )
    if re.search(r"[\x00-\x1f\x7f]", value):
        raise Invalid("The client secret contains control characters.", field="client_secret")
    return value


@dataclass
class _Values:
    fields: dict[str, Any]
    slot: str


def _validate(definition: AppDefinition, values: Mapping[str, Any]) -> _Values:
    if not isinstance(values, Mapping):
        raise Invalid("The form is incomplete.")
    custom = definition.key == CUSTOM
    method = values.get("token_auth_method") or provider.BASIC
    if method not in provider.TOKEN_AUTH_METHODS:
        raise Invalid(
            "Client authentication is client_secret_basic, client_secret_post or none.",
            field="token_auth_method",
        )
    pkce = values.get("pkce", True)
    if not isinstance(pkce, bool):
        raise Invalid("PKCE is on or off.", field="pkce")
    fields: dict[str, Any] = {
        "client_id": clean_text(
            values.get("client_id"), field="client_id", label="Client ID", max_length=255
        ),
        "scopes": _optional(values.get("scopes"), _SCOPES, "scopes", "Scopes", 500),
        "extra_params": _extra_params(values.get("extra_params")),
        "token_auth_method": method,
        "pkce": pkce,
    }
    if not custom:
        stray = [k for k in (*_ENDPOINTS, "api_base_url", "test_path") if values.get(k)]
        if stray:
            raise Invalid(
                f"{definition.name}'s endpoints come from the catalog; only the client, "
                "scopes and sign-in options are registered.",
                field=stray[0],
            )
        fields["name"] = definition.name
        return _Values(fields, definition.key)
    name = clean_text(values.get("name"), field="name", label="Name", max_length=120)
    fields["name"] = name
    labels = {
        "issuer": "Issuer URL",
        "authorize_url": "Authorize URL",
        "token_url": "Token URL",
        "revocation_url": "Revocation URL",
        "userinfo_url": "Userinfo URL",
        "jwks_url": "JWKS URL",
    }
    for key, label in labels.items():
        fields[key] = _url(
            values.get(key), key, label, required=key in ("authorize_url", "token_url")
        )
    fields["api_base_url"] = _url(
        values.get("api_base_url"), "api_base_url", "API base URL", required=True
    )
    iss_required = values.get("iss_required", False)
    if not isinstance(iss_required, bool):
        raise Invalid("The issuer check is on or off.", field="iss_required")
    fields["iss_required"] = iss_required
    identity = _optional(
        values.get("identity_field"), _FIELD_PATH, "identity_field", "Identity field", 120
    )
    fields["identity_field"] = identity or None
    fields["name_field"] = (
        _optional(values.get("name_field"), _FIELD_PATH, "name_field", "Name field", 120) or None
    )
    if identity and not fields["userinfo_url"]:
        raise Invalid(
            "An identity field is read from the userinfo URL: enter it.", field="userinfo_url"
        )
    if not identity and not (fields["userinfo_url"] or (fields["jwks_url"] and fields["issuer"])):
        raise Invalid(
            "Tell how to know who signed in: a userinfo URL, or an issuer with its JWKS URL "
            "(OpenID Connect), or an identity field.",
            field="userinfo_url",
        )
    test_path = clean_text(
        values.get("test_path"),
        field="test_path",
        label="Test path",
        max_length=500,
        required=False,
    )
    if test_path and (
        not test_path.startswith("/") or test_path.startswith("//") or " " in test_path
    ):
        raise Invalid(
            "The test path starts with / (relative to the API base URL).", field="test_path"
        )
    fields["test_path"] = test_path or None
    key = " ".join(name.casefold().split())
    return _Values(fields, f"custom:{key}")


# --- writing ----------------------------------------------------------------------


def _seal(db: Session, vault: Vault, row: AccountOAuthApp, secret: str) -> None:
    sealed = vault.encrypt(
        db, place=SealedPlace.account_oauth_app(row.account_id, row.id), plaintext=secret
    )
    row.secret_key_version = sealed.key_version
    row.secret_nonce = sealed.nonce
    row.secret_ciphertext = sealed.ciphertext
    row.secret_tail = masked_tail(secret)


def _audit(db: Session, actor: Actor, row: AccountOAuthApp, action: str, detail: dict) -> None:
    """Audited in the account's chain; every workspace of the account re-reads on commit
    (what its Add dialog offers may have changed)."""
    for workspace_id in scope.workspaces_of(db, actor):
        alerts.changed_in(db, workspace_id)
    audit.record(
        db,
        account_id=row.account_id,
        action=action,
        target_type="oauth_app",
        target_id=row.id,
        actor_id=actor.user_id,
        actor_label=actor.label,
        detail={"name": row.name, "app": row.app, **detail},
    )


def save_app(
    db: Session,
    actor: Actor,
    *,
    vault: Vault,
    values: Mapping[str, Any],
    client_secret: Any = None,
    app_id: Any = None,
) -> OAuthAppView:
    """Create (`app_id` None; `values["app"]` names the catalog app or custom_oauth2) or
    update a registration. On update an empty secret keeps the stored one. Refused with
    a clear message, nothing written, when the change would move where existing
    connections' tokens go."""
    _require_admin(actor)
    existing = scope.get_app(db, actor, app_id, for_update=True) if app_id is not None else None
    app_key = (
        existing.app if existing else (values.get("app") if isinstance(values, Mapping) else None)
    )
    try:
        definition = get_catalog().get(app_key)
    except (NotFound, Invalid):
        raise Invalid("Choose an OAuth app or Custom OAuth 2.0.", field="app") from None
    if not (definition.offers_sign_in or definition.key == CUSTOM):
        raise Invalid(f"{definition.name} has no OAuth sign-in to register.", field="app")
    checked = _validate(definition, {k: v for k, v in values.items() if k != "app"})
    secret = _secret(client_secret)
    public = checked.fields["token_auth_method"] == provider.PUBLIC
    if existing is None and secret is None and not public:
        raise Invalid("Enter the client secret.", field="client_secret")
    if scope.slot_taken(db, actor, checked.slot, exclude_id=existing.id if existing else None):
        what = "a custom provider with this name" if definition.key == CUSTOM else "this app"
        raise Conflict(f"The account already has {what} registered.")
    changed: list[str] = []
    if existing is not None:
        changed = [k for k, v in checked.fields.items() if getattr(existing, k) != v]
        moved = [k for k in changed if k in _WHERE_TOKENS_GO]
        used = scope.connections_using(db, existing, custom=existing.app == CUSTOM)
        if moved and used:
            db.rollback()
            raise Conflict(
                f"{len(used)} connection(s) hold tokens issued through this app "
                f"({', '.join(used[:3])}{'…' if len(used) > 3 else ''}). Changing "
                f"{', '.join(moved)} would send their tokens somewhere new: revoke or "
                "delete them first, or register a new OAuth app."
            )
    row = existing or AccountOAuthApp(
        id=uuid.uuid4().hex,
        account_id=actor.account_id,
        app=definition.key,
        slot=checked.slot,
        name=checked.fields["name"],
        client_id=checked.fields["client_id"],
        created_by=actor.user_id,
    )
    for key, value in checked.fields.items():
        setattr(row, key, value)
    row.slot = checked.slot
    row.updated_by = actor.user_id
    row.updated_at = utcnow()
    if public:
        row.secret_key_version = row.secret_nonce = row.secret_ciphertext = None
        row.secret_tail = ""
    elif secret is not None:
        _seal(db, vault, row, secret)
        changed.append("client_secret")
    elif row.secret_ciphertext is None:
        raise Invalid("Enter the client secret.", field="client_secret")
    db.add(row)
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        raise Conflict("The account already has this app registered.") from None
    _audit(
        db,
        actor,
        row,
        audit.Action.UPDATED if existing else audit.Action.CREATED,
        {"changed": sorted(set(changed))} if existing else {},
    )
    view = _view(db, row)
    db.commit()
    return view


def rotate_secret(
    db: Session, actor: Actor, *, vault: Vault, app_id: Any, client_secret: Any
) -> OAuthAppView:
    """A new client secret for every connection of this app at once (they hold only
    their tokens; the next refresh or revoke uses it)."""
    _require_admin(actor)
    row = scope.get_app(db, actor, app_id, for_update=True)
    secret = _secret(client_secret)
    if secret is None:
        raise Invalid("Enter the new client secret.", field="client_secret")
    if row.token_auth_method == provider.PUBLIC:
        raise Invalid("This app is a public client: it has no secret.", field="client_secret")
    _seal(db, vault, row, secret)
    row.updated_by = actor.user_id
    row.updated_at = utcnow()
    db.add(row)
    _audit(db, actor, row, audit.Action.ROTATED, {})
    view = _view(db, row)
    db.commit()
    return view


def delete_app(db: Session, actor: Actor, *, app_id: Any) -> None:
    """Refused while connections hold tokens issued through it (their refresh and
    revoke need this client); the message names them."""
    _require_admin(actor)
    row = scope.get_app(db, actor, app_id, for_update=True)
    used = scope.connections_using(db, row, custom=row.app == CUSTOM)
    if used:
        db.rollback()
        raise Conflict(
            f"{len(used)} connection(s) use this OAuth app "
            f"({', '.join(used[:3])}{'…' if len(used) > 3 else ''}). Revoke or delete them "
            "first: their tokens can be refreshed and revoked only with this client."
        )
    _audit(db, actor, row, audit.Action.DELETED, {})
    db.delete(row)
    db.commit()


# --- resolution (the flow, the refresher, revoke) ------------------------------------


def _settings_of(row: AccountOAuthApp, definition: AppDefinition) -> ProviderSettings:
    extra = tuple(sorted((row.extra_params or {}).items()))
    scopes = tuple(row.scopes.split()) if row.scopes else ()
    if row.app != CUSTOM:
        base = ProviderSettings.from_definition(definition)
        return ProviderSettings(
            **{
                **base.__dict__,
                "scopes": scopes or base.scopes,
                "extra_params": extra,
                "token_auth_method": row.token_auth_method,
                "pkce": row.pkce,
            }
        )
    return ProviderSettings(
        name=row.name,
        token_url=row.token_url or "",
        authorize_url=row.authorize_url,
        revocation_url=row.revocation_url,
        userinfo_url=row.userinfo_url,
        jwks_url=row.jwks_url,
        issuer=row.issuer,
        iss_required=row.iss_required,
        scopes=scopes,
        extra_params=extra,
        token_auth_method=row.token_auth_method,
        pkce=row.pkce,
        identity_url=row.userinfo_url if row.identity_field else None,
        identity_field=row.identity_field,
        name_field=row.name_field,
        oidc_identity=not row.identity_field,
        test_path=row.test_path,
    )


def _registration(
    db: Session, *, account_id: str, definition: AppDefinition, oauth_app_id: str | None
) -> AccountOAuthApp | None:
    if definition.key == CUSTOM:
        if not oauth_app_id:
            raise NotFound("Choose which of the account's OAuth apps to connect with.")
        return scope.app_for_system(db, account_id=account_id, app_id=oauth_app_id)
    return scope.registration_for_system(db, account_id=account_id, slot=definition.key)


def settings_for(
    db: Session, *, account_id: str, definition: AppDefinition, oauth_app_id: str | None = None
) -> tuple[ProviderSettings, str]:
    """The settings and client id a flow starts with (no secret is opened)."""
    row = _registration(db, account_id=account_id, definition=definition, oauth_app_id=oauth_app_id)
    if row is not None:
        return _settings_of(row, definition), row.client_id
    return ProviderSettings.from_definition(definition), clients.client_id_of(
        db, app=definition.key
    )


def resolve(
    db: Session,
    *,
    vault: Vault,
    account_id: str,
    definition: AppDefinition,
    oauth_app_id: str | None = None,
) -> Resolved:
    """The account's registration first, the installation's as the fallback; the secret
    is opened for one provider call."""
    row = _registration(db, account_id=account_id, definition=definition, oauth_app_id=oauth_app_id)
    if row is None:
        return Resolved(
            ProviderSettings.from_definition(definition),
            clients.credentials(db, vault=vault, app=definition.key),
            "installation",
        )
    return Resolved(
        _settings_of(row, definition),
        clients.account_credentials(db, vault=vault, row=row),
        "account",
    )


def connection_config(db: Session, *, account_id: str, oauth_app_id: str) -> dict[str, str]:
    """What a custom provider's connection records when it connects (non-secret): which
    OAuth app it belongs to, its API base URL and its test path (the app's, else the
    userinfo path when userinfo lives under the API base URL, else `/`)."""
    row = scope.app_for_system(db, account_id=account_id, app_id=oauth_app_id)
    if not row.api_base_url:
        raise ProviderError(f"{row.name} has no API base URL.")
    base = row.api_base_url.rstrip("/")
    test_path = row.test_path
    if not test_path and row.userinfo_url and row.userinfo_url.startswith(base + "/"):
        test_path = row.userinfo_url[len(base) :]
    return {"oauth_app_id": row.id, "api_base_url": base, "test_path": test_path or "/"}
