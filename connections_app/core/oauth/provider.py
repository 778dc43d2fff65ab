"""The conversations with an OAuth provider, and nothing else: the authorization URL,
the code exchange, reading who signed in, token refresh, client credentials,
revocation (RFC 7009) and OpenID Connect discovery. No function here reads or writes
a connection: the lifecycle of connection rows belongs to `core/connections/`.

Every call is driven by a `ProviderSettings`: built from a catalog app (its
endpoints) or from an account's OAuth app registration (`oauth.apps`). Token
requests are made here directly (not through authlib's client) so that client
authentication follows RFC 6749 §2.3.1 exactly: for `client_secret_basic` the id
and secret are form-urlencoded before Base64, so a secret with `+`, `%`, `:` or `/`
reaches the provider intact (authlib 1.9's basic auth does not encode them).

Failures are classified: timeouts, network errors and provider 5xx /
`temporarily_unavailable` are transient; `invalid_grant` and friends are permanent.
HTTP 429 (and a 503 carrying `Retry-After`) is `RateLimited`: transient, with the
provider's `Retry-After` in seconds when it sent one.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from connections_app.core import egress, ratelimit
from connections_app.core.catalog.models import AppDefinition
from connections_app.core.errors import DomainError

PROVIDER_TIMEOUT = 10.0
PERMANENT_ERRORS = {
    "invalid_grant",
    "invalid_client",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
}
ACCESS, REFRESH = "access_token", "refresh_token"
# Client authentication at the token endpoint (names, not secrets).
BASIC, POST, PUBLIC = "client_secret_basic", "client_secret_post", "none"
TOKEN_AUTH_METHODS = (BASIC, POST, PUBLIC)
# Extra authorization parameters a registration may set; nothing else is sent.
EXTRA_PARAMS = ("prompt", "audience", "access_type", "resource")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]


class ProviderError(DomainError):
    """A provider answered no, or could not be reached; the message is for people."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


class RateLimited(ProviderError):
    """The provider asked us to slow down (HTTP 429, or 503 with `Retry-After`): not the
    connection's fault; `retry_after` is the provider's wait in seconds, if it said."""

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message, permanent=False)
        self.retry_after = retry_after


@dataclass(frozen=True)
class ProviderSettings:
    """Everything a conversation with one provider needs, without the client secret.

    `identity_url` + `identity_field` read the account from a JSON document (a
    catalog app's identity spec, or a custom provider's named field); with
    `oidc_identity` the account is the OpenID Connect `sub` (ID token, else userinfo).
    """

    name: str
    token_url: str
    authorize_url: str | None = None
    revocation_url: str | None = None
    userinfo_url: str | None = None
    jwks_url: str | None = None
    issuer: str | None = None
    iss_required: bool = False
    scopes: tuple[str, ...] = ()
    extra_params: tuple[tuple[str, str], ...] = ()
    token_auth_method: str = BASIC
    pkce: bool = True
    grant_type: str = "authorization_code"
    identity_url: str | None = None
    identity_field: str | None = None
    name_field: str | None = None
    oidc_identity: bool = False
    test_path: str | None = None

    @classmethod
    def from_definition(cls, definition: AppDefinition) -> ProviderSettings:
        """Today's behaviour: the catalog's endpoints, scopes and identity spec."""
        oauth = definition.oauth
        if oauth is None:
            raise ProviderError(f"{definition.name} has no OAuth 2.0 sign-in.")
        identity = oauth.identity
        return cls(
            name=definition.name,
            token_url=oauth.token_url,
            authorize_url=oauth.authorize_url,
            revocation_url=oauth.revoke_url,
            scopes=tuple(oauth.scopes),
            pkce=oauth.pkce,
            grant_type=oauth.grant_type,
            identity_url=identity.url if identity else None,
            identity_field=identity.id_path if identity else None,
            name_field=identity.name_path if identity else None,
        )


def is_client_credentials(definition: AppDefinition) -> bool:
    return bool(definition.oauth and definition.oauth.grant_type == "client_credentials")


def nonce_for(state: str) -> str:
    """The OpenID Connect nonce of a flow, derived from its secret state: the flow row
    stores only SHA-256 of the state, so the nonce needs no column and no leak of it."""
    return hashlib.sha256(b"oidc-nonce|" + state.encode()).hexdigest()


def clean_description(text: object, limit: int = 200) -> str:
    """A provider's `error_description`, safe to show: control characters dropped,
    bounded; never the raw URL it came in."""
    if not isinstance(text, str):
        return ""
    cleaned = " ".join(_CONTROL.sub(" ", text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def authorization_url(
    settings: ProviderSettings,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    verifier: str,
    another_account: bool = False,
) -> str:
    """The provider URL the popup goes to: scope, PKCE S256 (unless switched off), the
    registration's allow-listed extra parameters, and a nonce when asking for OpenID.
    "Connect another account" asks the provider to let the person choose
    (`prompt=select_account`, unless the registration set `prompt=login`)."""
    assert settings.authorize_url
    params: list[tuple[str, str]] = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("state", state),
    ]
    if settings.scopes:
        params.append(("scope", " ".join(settings.scopes)))
    if settings.pkce:
        params += [
            ("code_challenge", create_s256_code_challenge(verifier)),
            ("code_challenge_method", "S256"),
        ]
    if "openid" in settings.scopes:
        params.append(("nonce", nonce_for(state)))
    extra = {k: v for k, v in settings.extra_params if k in EXTRA_PARAMS and v}
    if another_account and extra.get("prompt") != "login":
        extra["prompt"] = "select_account"
    params += sorted(extra.items())
    return add_params_to_uri(settings.authorize_url, params)


def _basic(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1: each part form-urlencoded, then joined and Base64-encoded."""
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def _token_request(
    settings: ProviderSettings,
    client_id: str,
    client_secret: str | None,
    what: str,
    data: dict[str, str],
) -> dict[str, Any]:
    """One call to the token endpoint with the registration's client authentication,
    its failures sorted into permanent (the provider said no) and transient."""
    form = dict(data)
    headers = {"Accept": "application/json"}
    method = settings.token_auth_method
    if method == BASIC and client_secret:
        headers["Authorization"] = _basic(client_id, client_secret)
    elif method == POST and client_secret:
        form.update(client_id=client_id, client_secret=client_secret)
    else:  # a public client identifies itself and proves nothing but PKCE
        form["client_id"] = client_id
    try:
        with httpx.Client(**egress.client_options(PROVIDER_TIMEOUT)) as http:
            response = http.post(settings.token_url, data=form, headers=headers)
    except egress.EgressRefused as err:
        raise ProviderError(str(err), permanent=True) from None
    except httpx.HTTPError as err:
        refused = egress.describe(err)
        raise ProviderError(
            refused
            or f"{settings.name} could not be reached for the {what} ({type(err).__name__}).",
            permanent=bool(refused),
        ) from None
    finally:
        form.clear()
    retry_after = response.headers.get("retry-after")
    if response.status_code == 429 or (response.status_code == 503 and retry_after):
        wait = ratelimit.retry_after_seconds(retry_after)
        raise RateLimited(
            f"{settings.name} asked to slow down (HTTP {response.status_code})"
            + (f"; retrying after {wait:.0f}s." if wait is not None else "."),
            retry_after=wait,
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        error = clean_description(body["error"], 60)
        described = clean_description(body.get("error_description"))
        raise ProviderError(
            f"{settings.name} refused the {what} ({error})."
            + (f" {settings.name} said: “{described}”" if described else ""),
            permanent=error in PERMANENT_ERRORS,
        )
    if response.status_code != 200 or not isinstance(body, dict):
        raise ProviderError(
            f"{settings.name} could not be reached for the {what} (HTTP {response.status_code}).",
            permanent=False,
        )
    return body


def exchange_code(
    settings: ProviderSettings,
    *,
    client_id: str,
    client_secret: str | None,
    redirect_uri: str,
    code: str,
    verifier: str,
) -> dict[str, Any]:
    """The authorization code for tokens, server-side, with the PKCE verifier."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if settings.pkce:
        data["code_verifier"] = verifier
    return _token_request(settings, client_id, client_secret, "code exchange", data)


def _dig(document: Any, path: str) -> str | None:
    value = document
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)[:255]
    return None


def _get_json(settings: ProviderSettings, url: str, *, bearer: str | None, what: str) -> Any:
    """A JSON document from the provider through the egress guard (identity, JWKS,
    discovery); a failure says nothing was connected."""
    headers = {"Accept": "application/json"}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    try:
        with httpx.Client(**egress.client_options(PROVIDER_TIMEOUT)) as http:
            response = http.get(url, headers=headers)
    except httpx.HTTPError as err:
        refused = egress.describe(err)
        raise ProviderError(
            refused + " Nothing was connected."
            if refused
            else f"{settings.name} is unreachable ({type(err).__name__}); nothing was connected."
        ) from None
    if response.status_code != 200:
        raise ProviderError(
            f"{settings.name} did not answer {what} (HTTP {response.status_code}); "
            "nothing was connected."
        )
    try:
        return response.json()
    except ValueError:
        return None


def _verified_id_token(
    settings: ProviderSettings, id_token: str, *, client_id: str, nonce: str | None
) -> dict[str, Any]:
    """The ID token's claims, after checking its signature (the provider's JWKS), issuer,
    audience, expiry and, when the flow sent one, nonce."""
    keys = _get_json(settings, settings.jwks_url or "", bearer=None, what="with its signing keys")
    try:
        key_set = KeySet.import_key_set(keys)
        token = jwt.decode(id_token, key_set, algorithms=ID_TOKEN_ALGORITHMS)
        rules: dict[str, Any] = {
            "iss": {"essential": True, "value": settings.issuer},
            "aud": {"essential": True, "value": client_id},
            "exp": {"essential": True},
            "sub": {"essential": True},
        }
        if nonce is not None:
            rules["nonce"] = {"essential": True, "value": nonce}
        jwt.JWTClaimsRegistry(leeway=60, **rules).validate(token.claims)
    except (JoseError, ValueError, TypeError, KeyError) as err:
        raise ProviderError(
            f"{settings.name}'s ID token did not verify ({type(err).__name__}); "
            "nothing was connected."
        ) from None
    return dict(token.claims)


def _display_name(document: dict[str, Any]) -> str | None:
    for key in ("name", "preferred_username", "email"):
        value = _dig(document, key)
        if value:
            return value
    return None


def read_identity(
    settings: ProviderSettings,
    token: dict[str, Any],
    *,
    client_id: str = "",
    nonce: str | None = None,
) -> tuple[str | None, str | None]:
    """The external account behind a token (F18): a named JSON field of the identity
    document, or the OpenID Connect `sub` (a verified ID token, else userinfo)."""
    access = str(token.get(ACCESS, ""))
    if settings.oidc_identity:
        claims: dict[str, Any] = {}
        id_token = token.get("id_token")
        if isinstance(id_token, str) and settings.jwks_url and settings.issuer:
            claims = _verified_id_token(settings, id_token, client_id=client_id, nonce=nonce)
        info: Any = None
        if settings.userinfo_url and (not claims or not _display_name(claims)):
            info = _get_json(settings, settings.userinfo_url, bearer=access, what="who signed in")
            if not isinstance(info, dict) or _dig(info, "sub") is None:
                raise ProviderError(f"{settings.name} sent no account id; nothing was connected.")
            if claims and _dig(info, "sub") != _dig(claims, "sub"):
                raise ProviderError(
                    f"{settings.name}'s userinfo names another account than its ID token; "
                    "nothing was connected."
                )
        document = {**(info or {}), **claims} if claims else info
        if not isinstance(document, dict) or _dig(document, "sub") is None:
            raise ProviderError(
                f"{settings.name} did not tell which account signed in (no ID token or "
                "userinfo); nothing was connected."
            )
        name = _dig(document, settings.name_field) if settings.name_field else None
        return _dig(document, "sub"), name or _display_name(document)
    if not settings.identity_url or not settings.identity_field:
        return None, None
    document = _get_json(settings, settings.identity_url, bearer=access, what="who signed in")
    external_id = _dig(document, settings.identity_field)
    if external_id is None:
        raise ProviderError(f"{settings.name} sent no account id; nothing was connected.")
    name = _dig(document, settings.name_field) if settings.name_field else None
    return external_id, name


def fetch_client_credentials(
    settings: ProviderSettings | AppDefinition, client_id: str, client_secret: str
) -> dict[str, Any]:
    """A token for a server-to-server app: no person, no consent, no refresh token."""
    if isinstance(settings, AppDefinition):
        settings = ProviderSettings.from_definition(settings)
    data = {"grant_type": "client_credentials"}
    if settings.scopes:
        data["scope"] = " ".join(settings.scopes)
    return _token_request(settings, client_id, client_secret, "app credentials", data)


def refresh_tokens(
    settings: ProviderSettings, *, client_id: str, client_secret: str | None, refresh: str
) -> dict[str, Any]:
    """Trade a refresh token for new tokens; an answer without a refresh token keeps none."""
    token = _token_request(
        settings,
        client_id,
        client_secret,
        "refresh",
        {"grant_type": "refresh_token", "refresh_token": refresh},
    )
    if token.get(REFRESH) == refresh:
        token.pop(REFRESH)  # the same one again: nothing new to store
    return token


def revoke_token(
    settings: ProviderSettings,
    *,
    client_id: str,
    client_secret: str | None,
    token: str,
    hint: str,
) -> bool:
    """RFC 7009, best effort: three attempts; returns whether the provider confirmed."""
    if not settings.revocation_url:
        return False
    form = {"token": token, "token_type_hint": hint}
    headers = {"Accept": "application/json"}
    if settings.token_auth_method == BASIC and client_secret:
        headers["Authorization"] = _basic(client_id, client_secret)
    elif settings.token_auth_method == POST and client_secret:
        form.update(client_id=client_id, client_secret=client_secret)
    else:
        form["client_id"] = client_id
    try:
        for attempt in range(3):
            try:
                with httpx.Client(**egress.client_options(PROVIDER_TIMEOUT)) as http:
                    response = http.post(settings.revocation_url, data=form, headers=headers)
                if response.status_code == 200:
                    return True
                if response.status_code < 500:
                    return False
            except egress.EgressRefused:
                return False
            except httpx.HTTPError:
                pass
            time.sleep(0.5 * (attempt + 1))
        return False
    finally:
        form.clear()
        headers.clear()


@dataclass(frozen=True)
class Discovered:
    """What an OpenID Connect issuer publishes about itself (no secrets)."""

    issuer: str
    authorize_url: str
    token_url: str
    revocation_url: str | None
    userinfo_url: str | None
    jwks_url: str | None
    iss_required: bool
    auth_methods: tuple[str, ...]
    pkce_s256: bool


def discover(issuer: str) -> Discovered:
    """Fetch `<issuer>/.well-known/openid-configuration` through the egress guard and
    check that it describes that very issuer (OpenID Connect Discovery §4.3)."""
    settings = ProviderSettings(name="The issuer", token_url="")
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        document = _get_json(settings, url, bearer=None, what="with its configuration")
    except ProviderError as err:
        raise ProviderError(
            str(err).replace(" Nothing was connected.", "").replace("; nothing was connected.", ".")
        ) from None
    if not isinstance(document, dict):
        raise ProviderError("The issuer's configuration is not a JSON object.")
    if document.get("issuer") != issuer:
        raise ProviderError(
            "The issuer's configuration names another issuer "
            f"(“{clean_description(document.get('issuer'), 120)}”); it was not used."
        )

    def url_of(key: str, required: bool = False) -> str | None:
        value = document.get(key)
        if isinstance(value, str) and re.fullmatch(r"https?://\S{3,500}", value):
            return value
        if required:
            raise ProviderError(f"The issuer's configuration has no valid {key}.")
        return None

    methods = document.get("token_endpoint_auth_methods_supported")
    challenges = document.get("code_challenge_methods_supported")
    return Discovered(
        issuer=issuer,
        authorize_url=url_of("authorization_endpoint", True) or "",
        token_url=url_of("token_endpoint", True) or "",
        revocation_url=url_of("revocation_endpoint"),
        userinfo_url=url_of("userinfo_endpoint"),
        jwks_url=url_of("jwks_uri"),
        iss_required=document.get("authorization_response_iss_parameter_supported") is True,
        auth_methods=tuple(m for m in methods if isinstance(m, str))[:10]
        if isinstance(methods, list)
        else ("client_secret_basic",),
        pkce_s256=isinstance(challenges, list) and "S256" in challenges,
    )
