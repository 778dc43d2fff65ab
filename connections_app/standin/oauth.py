"""The stand-in's OAuth 2.0 authorization server, built on authlib's server side.

It behaves like the strict providers the product has to survive: authorization
code with PKCE S256 (required, for every client), a consent page with Allow and
Deny, short configurable access-token lifetimes, rotating refresh tokens with
reuse detection (presenting a spent refresh token revokes the whole grant),
RFC 7009 revocation, the client-credentials grant, and an identity endpoint.
Switches make the token endpoint slow, fail with 503, or answer `invalid_grant`;
others drop `refresh_token` or `expires_in` from token responses. At scale: an added
latency on every token request (`token_latency`), the next N token requests answered
with 429 + `Retry-After` or a 5xx (`fail_next`, `fail_status`, `retry_after`; the
ledger records how long the client waited after each 429), and grants minted in bulk
(`POST /_standin/oauth/<app>/grants`) so a benchmark can seed thousands without
thousands of consent pages.

Everything lives in memory: it is a test and demo double, one per process.
Every app gets its own client and its own URL space, `/oauth/<app>/...`.

`/oauth/oidc/...` is the standards mode: an OpenID Connect provider with discovery
(`/oauth/oidc/.well-known/openid-configuration`), a JWKS, signed ID tokens (`sub`,
`iss`, `aud`, `nonce`), userinfo, `iss` in every authorization response (RFC 9207;
a switch makes it wrong or absent), `error_description` on deny, RFC 7662
introspection, and several registered clients: a confidential one whose secret
holds `+`, `%`, `:` and `/` (client_secret_basic is decoded per RFC 6749 §2.3.1,
form-urlencoded then Base64, so a client that does not encode fails), a public one
(`none`), PKCE optional. Who signs in is chosen on the consent page; `prompt` is
recorded, and `/_standin/oauth/oidc/next-account` preselects the next account.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import html
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

OIDC = "oidc"
OAUTH_APPS = ("slack", "hubspot", "github", "custom_oauth2", "paypal", OIDC)
# The standards-mode provider's registered clients. The confidential client's secret has
# the characters that break a client which does not form-encode Basic credentials.
OIDC_CLIENT_ID = "oidc-standin-client"
OIDC_CLIENT_SECRET = "s3cr+et%2F:with/odd=chars-0000"
OIDC_PUBLIC_CLIENT_ID = "oidc-standin-public"
ID_TOKEN_TTL = 600
ACCOUNTS = ("alice", "bob", "carol", "dana")
ACCOUNT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
TOKEN_MODES = ("ok", "slow", "error", "invalid_grant")
FAIL_STATUSES = (429, 500, 502, 503, 504)
CODE_TTL = 120
MAX_BULK_GRANTS = 100_000


def client_id_for(app: str) -> str:
    return f"{app}-standin-client"


def client_secret_for(app: str) -> str:
    """The demo's client secrets: valid here and nowhere else."""
    return f"{app}-standin-client-secret-0000"


def oidc_identity(account: str | None) -> dict[str, Any]:
    """The standards-mode provider's person: `sub`, display name and email."""
    name = (account or "service").title()
    return {
        "sub": f"sub-{account}",
        "name": f"{name} Example",
        "preferred_username": account,
        "email": f"{account}@oidc.standin.test",
    }


def identity_of(account: str) -> dict[str, Any]:
    """One identity document that satisfies every catalog app's `id_path`."""
    return {
        "ok": True,
        "id": f"U-{account}",
        "user_id": f"U-{account}",
        "login": account,
        "name": account.title(),
        "team_id": f"T-{account}",
        "team": f"{account.title()}'s team",
        "portalId": f"P-{account}",
        "uiDomain": f"{account}.hubspot.standin",
    }


@dataclass
class Settings:
    access_ttl: int = 3600
    issue_refresh_token: bool = True
    rotate_refresh_token: bool = True
    include_expires_in: bool = True
    token_mode: str = "ok"
    slow_seconds: float = 2.0
    # Standards mode (RFC 9207): send `iss` in authorization responses, or a wrong one.
    send_iss: bool = True
    wrong_iss: bool = False
    # Scale and failure drills: seconds added to every token request; the next
    # `fail_next` token requests answered `fail_status` (with `retry_after` as the
    # Retry-After header when set).
    token_latency: float = 0.0
    fail_next: int = 0
    fail_status: int = 503
    retry_after: str | None = None


@dataclass
class Client:
    app: str
    client_id: str
    client_secret: str
    grant_types: tuple[str, ...]
    auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post")

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Loopback only: the app under test or the demo app on this machine.
        parts = urlsplit(redirect_uri)
        return parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "localhost")

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.client_secret:
            return False
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in self.auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    account: str
    code_challenge: str
    code_challenge_method: str
    expires_at: float
    nonce: str | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class Token:
    """One issued access token and (maybe) its refresh token, within one grant."""

    app: str
    client_id: str
    grant_id: str
    account: str | None
    scope: str
    access_token: str
    refresh_token: str | None
    expires_at: float
    revoked: bool = False
    refresh_spent: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int(self.expires_at - time.time()))

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str | None:
        return self.account

    def get_client(self) -> Client:  # pragma: no cover - authlib API completeness
        raise NotImplementedError


@dataclass
class Ledger:
    """Everything the tests ask the stand-in about afterwards."""

    codes_issued: int = 0
    tokens_issued: int = 0
    refreshes: int = 0
    refreshes_by_grant: dict[str, int] = field(default_factory=dict)
    reuse_detected: int = 0
    invalid_grant_answers: int = 0
    revocations: list[dict[str, str]] = field(default_factory=list)
    # Standards mode: what the last authorization request asked for, and which client
    # authentication each token request used.
    last_authorize: dict[str, str] = field(default_factory=dict)
    token_auth: list[str] = field(default_factory=list)
    token_requests: int = 0
    rate_limited_answers: int = 0
    failed_answers: int = 0
    # Seconds between each 429 answer and the next token request that arrived.
    waits_after_429: list[float] = field(default_factory=list)
    bulk_grants: int = 0


class OAuthState:
    def __init__(self) -> None:
        # One signing key per process: ID tokens verify against the published JWKS.
        self.signing_key = RSAKey.generate_key(2048, parameters={"kid": "standin-1", "use": "sig"})
        self.reset()

    def reset(self) -> None:
        self.settings: dict[str, Settings] = {app: Settings() for app in OAUTH_APPS}
        self.clients = {
            app: Client(
                app,
                client_id_for(app),
                client_secret_for(app),
                ("client_credentials",)
                if app == "paypal"
                else ("authorization_code", "refresh_token"),
            )
            for app in OAUTH_APPS
        }
        self.oidc_clients = {
            OIDC_CLIENT_ID: Client(
                OIDC, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, ("authorization_code", "refresh_token")
            ),
            OIDC_PUBLIC_CLIENT_ID: Client(
                OIDC, OIDC_PUBLIC_CLIENT_ID, "", ("authorization_code", "refresh_token"), ("none",)
            ),
        }
        self.clients[OIDC] = self.oidc_clients[OIDC_CLIENT_ID]
        self.next_account: str | None = None
        self.codes: dict[str, AuthorizationCode] = {}
        self.by_access: dict[str, Token] = {}
        self.by_refresh: dict[str, Token] = {}
        self.ledger = Ledger()
        self.last_429_at: float | None = None

    def live_token(self, app: str, access_token: str | None) -> Token | None:
        token = self.by_access.get(access_token or "")
        if token is None or token.app != app or token.revoked or token.is_expired():
            return None
        return token

    def client(self, app: str, client_id: str) -> Client | None:
        if app == OIDC:
            return self.oidc_clients.get(client_id)
        client = self.clients[app]
        return client if client_id == client.client_id else None

    def revoke_grant(self, grant_id: str) -> None:
        for token in self.by_access.values():
            if token.grant_id == grant_id:
                token.revoked = True


class _PassThroughServer(AuthorizationServer):
    """authlib's framework-neutral server, fed requests we already parsed."""

    def __init__(self, state: OAuthState, app: str) -> None:
        super().__init__(scopes_supported=None)
        self.state = state
        self.app = app
        self.register_token_generator("default", self._generate)

    def _generate(
        self,
        grant_type: str,
        client: Client,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        settings = self.state.settings[self.app]
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": f"at-{self.app}-{secrets.token_urlsafe(24)}",
        }
        if settings.include_expires_in:
            token["expires_in"] = settings.access_ttl
        if include_refresh_token and settings.issue_refresh_token:
            token["refresh_token"] = f"rt-{self.app}-{secrets.token_urlsafe(32)}"
        if scope:
            token["scope"] = scope
        return token

    def query_client(self, client_id: str) -> Client | None:
        return self.state.client(self.app, client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        previous: Token | None = getattr(request, "refresh_token", None)
        grant_id = previous.grant_id if previous else secrets.token_hex(8)
        settings = self.state.settings[self.app]
        refresh = token.get("refresh_token")
        if previous is not None and refresh is None:
            refresh = previous.refresh_token  # a non-rotating refresh keeps the old one
        record = Token(
            app=self.app,
            client_id=request.client.client_id,
            grant_id=grant_id,
            account=request.user if isinstance(request.user, str) else None,
            scope=token.get("scope", ""),
            access_token=token["access_token"],
            refresh_token=refresh,
            expires_at=time.time() + settings.access_ttl,
        )
        code: AuthorizationCode | None = getattr(request, "authorization_code", None)
        if self.app == OIDC and code is not None and "openid" in code.scope.split():
            token["id_token"] = _id_token(self.state, request, code)
        self.state.by_access[record.access_token] = record
        if refresh:
            self.state.by_refresh[refresh] = record
        self.state.ledger.tokens_issued += 1

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        headers = dict(headers or [])
        if isinstance(body, dict):
            headers.pop("Content-Type", None)
            return JSONResponse(body, status_code=status, headers=headers)
        return Response(body or "", status_code=status, headers=headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


def _issuer(uri: str) -> str:
    """The standards-mode issuer, as seen at the address the request came to."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}/oauth/{OIDC}"


def _id_token(state: OAuthState, request: OAuth2Request, code: AuthorizationCode) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": _issuer(request.uri),
        "sub": oidc_identity(code.account)["sub"],
        "aud": code.client_id,
        "iat": now,
        "exp": now + ID_TOKEN_TTL,
        "name": oidc_identity(code.account)["name"],
        "email": oidc_identity(code.account)["email"],
    }
    if code.nonce:
        claims["nonce"] = code.nonce
    return jose_jwt.encode({"alg": "RS256", "kid": "standin-1"}, claims, state.signing_key)


def _form_decoded_basic(query_client: Any, request: OAuth2Request) -> Client | None:
    """RFC 6749 §2.3.1: the id and secret were form-urlencoded, then Base64-encoded. A
    client that skipped the encoding (`+` sent raw, `%2F` left as is) fails here, as it
    does at strict providers."""
    header = request.headers.get("Authorization") or ""
    kind, _, encoded = header.partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    raw_id, colon, raw_secret = decoded.partition(":")
    if not colon:
        return None
    client = query_client(unquote_plus(raw_id))
    if client is None:
        raise InvalidClientError(status_code=401, description="Unknown client.")
    return client if client.check_client_secret(unquote_plus(raw_secret)) else None


def _make_grants(state: OAuthState, app: str) -> _PassThroughServer:
    methods = ["client_secret_basic", "client_secret_post"] + (["none"] if app == OIDC else [])

    class CodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = methods

        def validate_authorization_request(self) -> str:
            # PKCE is mandatory here, and only S256, like the strictest providers; the
            # standards-mode provider lets a confidential client go without it.
            data = self.request.payload.data
            if app == OIDC and not data.get("code_challenge"):
                return super().validate_authorization_request()
            if not data.get("code_challenge"):
                raise InvalidRequestError("PKCE is required: missing 'code_challenge'.")
            if data.get("code_challenge_method") != "S256":
                raise InvalidRequestError("Only code_challenge_method=S256 is accepted.")
            return super().validate_authorization_request()

        def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
            data = request.payload.data
            state.codes[code] = AuthorizationCode(
                code=code,
                client_id=request.client.client_id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.payload.scope or "",
                account=request.user,
                code_challenge=data.get("code_challenge", ""),
                code_challenge_method=data.get("code_challenge_method", ""),
                expires_at=time.time() + CODE_TTL,
                nonce=data.get("nonce"),
            )
            state.ledger.codes_issued += 1

        def query_authorization_code(self, code: str, client: Client) -> Any:
            found = state.codes.get(code)
            if found and found.client_id == client.client_id and time.time() < found.expires_at:
                return found
            return None

        def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
            state.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: AuthorizationCode) -> str:
            return authorization_code.account

    class PkceS256(CodeChallenge):
        SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

        def get_authorization_code_challenge(self, authorization_code: Any) -> str:
            return authorization_code.code_challenge

        def get_authorization_code_challenge_method(self, authorization_code: Any) -> str:
            return authorization_code.code_challenge_method

    class RotatingRefreshGrant(grants.RefreshTokenGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = methods

        @property
        def INCLUDE_NEW_REFRESH_TOKEN(self) -> bool:
            return state.settings[app].rotate_refresh_token

        def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
            token = state.by_refresh.get(refresh_token)
            if token is None:
                return None
            if token.refresh_spent:
                # Reuse of a rotated-away refresh token: assume theft, kill the grant.
                state.ledger.reuse_detected += 1
                state.revoke_grant(token.grant_id)
                return None
            return None if token.revoked else token

        def authenticate_user(self, refresh_token: Token) -> str | None:
            return refresh_token.account or "service"

        def revoke_old_credential(self, refresh_token: Token) -> None:
            refresh_token.revoked = True  # the old access token ends with the refresh
            if state.settings[app].rotate_refresh_token:
                refresh_token.refresh_spent = True
            state.ledger.refreshes += 1
            counts = state.ledger.refreshes_by_grant
            counts[refresh_token.grant_id] = counts.get(refresh_token.grant_id, 0) + 1

    class MachineGrant(grants.ClientCredentialsGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    class Revocation(RevocationEndpoint):
        CLIENT_AUTH_METHODS = methods

        def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
            if token_type_hint == "refresh_token":
                return state.by_refresh.get(token_string)
            return state.by_access.get(token_string) or state.by_refresh.get(token_string)

        def revoke_token(self, token: Token, request: OAuth2Request) -> None:
            state.revoke_grant(token.grant_id)
            state.ledger.revocations.append(
                {"app": app, "grant": token.grant_id, "hint": request.form.get("token_type_hint")}
            )

    class Introspection(IntrospectionEndpoint):
        """RFC 7662: a revoked or expired token reports `active: false`."""

        CLIENT_AUTH_METHODS = methods

        def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
            return state.by_access.get(token_string) or state.by_refresh.get(token_string)

        def check_permission(self, token: Token, client: Client, request: Any) -> bool:
            return token.client_id == client.client_id

        def introspect_token(self, token: Token) -> dict[str, Any]:
            return {
                "active": True,
                "client_id": token.client_id,
                "scope": token.scope,
                "sub": oidc_identity(token.account)["sub"] if token.account else None,
                "exp": int(token.expires_at),
                "token_type": "Bearer",
            }

    server = _PassThroughServer(state, app)
    if app == OIDC:
        server.register_client_auth_method("client_secret_basic", _form_decoded_basic)
        server.register_endpoint(Introspection)
    server.register_grant(CodeGrant, [PkceS256(required=app != OIDC)])
    server.register_grant(RotatingRefreshGrant)
    server.register_grant(MachineGrant)
    server.register_endpoint(Revocation)
    return server


def _consent_page(
    app: str, client: Client, query: str, scope: str, preselect: str | None = None
) -> HTMLResponse:
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in scope.split() if s) or "<li>basic</li>"
    options = "".join(
        f'<option value="{a}"{" selected" if a == preselect else ""}>{a.title()}</option>'
        for a in ACCOUNTS
    )
    body = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Authorize {html.escape(app)} — stand-in provider</title>
<style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;color:#1c2024}}
button{{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem;border-radius:6px;border:1px solid
#8b8d98;background:#fff}}button[value=allow]{{background:#3e63dd;color:#fff;border-color:#3e63dd}}
select{{font-size:1rem;padding:.3rem}}</style></head><body>
<h1>Stand-in {html.escape(app.title())}</h1>
<p><strong>{html.escape(client.client_id)}</strong> asks to access your account:</p>
<ul>{scopes}</ul>
<form method="post" action="?{html.escape(query)}">
<p><label for="account">Sign in as</label>
<select id="account" name="account">{options}</select></p>
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form></body></html>"""
    return HTMLResponse(body)


def _error_page(message: str, status: int = 400) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><title>Authorization error</title><h1>Authorization error</h1>"
        f"<p>{html.escape(message)}</p>",
        status_code=status,
    )


def _standards_redirect(response: Response, issuer: str, settings: Settings) -> Response:
    """RFC 9207 `iss` on every authorization response (a switch makes it wrong or
    absent), and an `error_description` when the person declined."""
    location = response.headers.get("location")
    if response.status_code != 302 or not location:
        return response
    parts = urlsplit(location)
    params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "iss"]
    if dict(params).get("error") == "access_denied":
        params = [(k, v) for k, v in params if k != "error_description"]
        params.append(("error_description", "The person declined to share their account."))
    if settings.send_iss:
        params.append(
            ("iss", "https://wrong-issuer.standin.test" if settings.wrong_iss else issuer)
        )
    response.headers["location"] = urlunsplit(parts._replace(query=urlencode(params)))
    return response


class _Payload(OAuth2Payload):
    def __init__(self, args: dict[str, list[str]], form: dict[str, list[str]]) -> None:
        merged: dict[str, list[str]] = {k: list(v) for k, v in args.items()}
        for key, values in form.items():
            merged.setdefault(key, []).extend(values)
        self._datalist = merged
        self._data = {k: v[0] for k, v in merged.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:  # type: ignore[override]
        return self._datalist


class _StarletteRequest(OAuth2Request):
    """authlib's request over values Starlette already read (the body is async there)."""

    def __init__(self, request: Request, form: dict[str, list[str]]) -> None:
        super().__init__(request.method, str(request.url), headers=request.headers)
        args: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            args.setdefault(key, []).append(value)
        self._args = {k: v[0] for k, v in args.items()}
        self._form = {k: v[0] for k, v in form.items()}
        self.payload = _Payload(args, form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


async def _read_form(request: Request) -> dict[str, list[str]]:
    if request.method != "POST":
        return {}
    found: dict[str, list[str]] = {}
    for key, value in (await request.form()).multi_items():
        found.setdefault(key, []).append(str(value))
    return found


def _oauth_request(request: Request, form: dict[str, list[str]]) -> OAuth2Request:
    return _StarletteRequest(request, form)


def oauth_routes(state: OAuthState) -> list[Route]:
    servers = {app: _make_grants(state, app) for app in OAUTH_APPS}

    def server_for(request: Request) -> _PassThroughServer | None:
        return servers.get(request.path_params["app"])

    async def authorize(request: Request) -> Response:
        server = server_for(request)
        if server is None:
            return _error_page("Unknown app.", 404)
        form = await _read_form(request)
        oauth_request = _oauth_request(request, form)
        try:
            grant = server.get_consent_grant(oauth_request)
        except OAuth2Error as error:
            # Errors before the redirect URI is trusted are shown here, never redirected.
            return _error_page(f"{error.error}: {error.description or ''}".strip(": "))
        if request.method == "GET":
            client = state.client(server.app, oauth_request.payload.client_id or "")
            assert client is not None  # get_consent_grant checked it
            data = oauth_request.payload.data
            if server.app == OIDC:
                state.ledger.last_authorize = {
                    k: data[k]
                    for k in ("client_id", "scope", "prompt", "nonce", "code_challenge_method")
                    if k in data
                } | {k: data[k] for k in ("audience", "access_type", "resource") if k in data}
            # prompt=select_account/login: the person chooses; otherwise the account the
            # control route named (the "signed-in" one) is preselected.
            chooses = bool(set((data.get("prompt") or "").split()) & {"select_account", "login"})
            preselect = None if chooses else state.next_account
            return _consent_page(
                server.app, client, request.url.query, oauth_request.payload.scope or "", preselect
            )
        account = oauth_request.form.get("account")
        # The page offers the demo accounts; tests may sign in as any simple name.
        allowed = oauth_request.form.get("decision") == "allow" and bool(
            account and ACCOUNT_NAME.fullmatch(account)
        )
        response = server.create_authorization_response(
            oauth_request, grant_user=account if allowed else None, grant=grant
        )
        if server.app == OIDC:
            state.next_account = None
            return _standards_redirect(response, _issuer(str(request.url)), state.settings[OIDC])
        return response

    async def token(request: Request) -> Response:
        server = server_for(request)
        if server is None:
            return JSONResponse({"error": "invalid_client"}, status_code=404)
        form = await _read_form(request)
        settings = state.settings[server.app]
        now = time.monotonic()
        state.ledger.token_requests += 1
        if state.last_429_at is not None:
            state.ledger.waits_after_429.append(round(now - state.last_429_at, 4))
            state.last_429_at = None
        if settings.token_latency > 0:
            await asyncio.sleep(settings.token_latency)
        if settings.fail_next > 0:
            settings.fail_next -= 1
            headers = {"Retry-After": settings.retry_after} if settings.retry_after else {}
            if settings.fail_status == 429:
                state.ledger.rate_limited_answers += 1
                state.last_429_at = time.monotonic()
                return JSONResponse({"error": "rate_limited"}, status_code=429, headers=headers)
            state.ledger.failed_answers += 1
            return Response("upstream failure", status_code=settings.fail_status, headers=headers)
        if settings.token_mode == "slow":
            await asyncio.sleep(settings.slow_seconds)
        elif settings.token_mode == "error":
            return JSONResponse({"error": "temporarily_unavailable"}, status_code=503)
        elif settings.token_mode == "invalid_grant" and form.get("grant_type") == ["refresh_token"]:
            state.ledger.invalid_grant_answers += 1
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "Token has been revoked."},
                status_code=400,
            )
        if server.app == OIDC:
            basic = request.headers.get("authorization", "").lower().startswith("basic ")
            state.ledger.token_auth.append(
                "client_secret_basic"
                if basic
                else "client_secret_post"
                if form.get("client_secret")
                else "none"
            )
        response = server.create_token_response(_oauth_request(request, form))
        if response.status_code == 400 and b"invalid_grant" in bytes(response.body):
            state.ledger.invalid_grant_answers += 1
        return response

    async def revoke(request: Request) -> Response:
        server = server_for(request)
        if server is None:
            return JSONResponse({"error": "invalid_client"}, status_code=404)
        form = await _read_form(request)
        return server.create_endpoint_response("revocation", _oauth_request(request, form))

    async def userinfo(request: Request) -> Response:
        app = request.path_params["app"]
        header = request.headers.get("authorization", "")
        bearer = header[7:] if header.lower().startswith("bearer ") else None
        token = state.live_token(app, bearer)
        if token is None:
            return JSONResponse({"ok": False, "error": "invalid_auth"}, status_code=401)
        if app == OIDC:
            return JSONResponse(oidc_identity(token.account))
        return JSONResponse(identity_of(token.account or "service"))

    async def discovery(request: Request) -> Response:
        issuer = _issuer(str(request.url))
        return JSONResponse(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "revocation_endpoint": f"{issuer}/revoke",
                "introspection_endpoint": f"{issuer}/introspect",
                "userinfo_endpoint": f"{issuer}/userinfo",
                "jwks_uri": f"{issuer}/jwks",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "code_challenge_methods_supported": ["S256"],
                "prompt_values_supported": ["none", "login", "consent", "select_account"],
                "authorization_response_iss_parameter_supported": True,
            }
        )

    async def jwks(_request: Request) -> Response:
        return JSONResponse({"keys": [state.signing_key.as_dict(private=False)]})

    async def introspect(request: Request) -> Response:
        form = await _read_form(request)
        return servers[OIDC].create_endpoint_response(
            "introspection", _oauth_request(request, form)
        )

    async def next_account(request: Request) -> Response:
        """Who is "signed in" at the provider for the next consent page."""
        try:
            data = await request.json()
        except ValueError:
            data = None
        account = data.get("account") if isinstance(data, dict) else None
        if account is not None and not (
            isinstance(account, str) and ACCOUNT_NAME.fullmatch(account)
        ):
            return JSONResponse({"error": "account is a simple name or null"}, status_code=400)
        state.next_account = account
        return JSONResponse({"next_account": account})

    async def configure(request: Request) -> Response:
        app = request.path_params["app"]
        if app not in state.settings:
            return JSONResponse({"error": "unknown app"}, status_code=404)
        try:
            data = await request.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return JSONResponse({"error": "expected a JSON object"}, status_code=400)
        current = state.settings[app]
        for key, value in data.items():
            if not hasattr(current, key):
                return JSONResponse({"error": f"unknown setting {key}"}, status_code=400)
            if key == "token_mode" and value not in TOKEN_MODES:
                return JSONResponse({"error": f"token_mode is one of {TOKEN_MODES}"}, 400)
            if key == "fail_status" and value not in FAIL_STATUSES:
                return JSONResponse({"error": f"fail_status is one of {FAIL_STATUSES}"}, 400)
            if key in ("token_latency", "fail_next") and not (
                isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
            ):
                return JSONResponse({"error": f"{key} is a number, zero or more"}, 400)
            if key == "retry_after" and not (value is None or isinstance(value, str)):
                return JSONResponse({"error": "retry_after is a header value or null"}, 400)
            setattr(current, key, value)
        return JSONResponse(current.__dict__)

    async def bulk_grants(request: Request) -> Response:
        """`count` grants as if `count` people had consented (accounts `<prefix>-<n>`):
        their tokens, for a benchmark to seal into connection rows."""
        app = request.path_params["app"]
        if app not in state.settings or app == "paypal":
            return JSONResponse({"error": "unknown app"}, status_code=404)
        try:
            data = await request.json()
        except ValueError:
            data = None
        count = data.get("count") if isinstance(data, dict) else None
        prefix = data.get("prefix", "bulk") if isinstance(data, dict) else "bulk"
        if not (isinstance(count, int) and 0 < count <= MAX_BULK_GRANTS):
            return JSONResponse({"error": f"count is 1..{MAX_BULK_GRANTS}"}, status_code=400)
        if not (isinstance(prefix, str) and ACCOUNT_NAME.fullmatch(prefix)):
            return JSONResponse({"error": "prefix is a simple name"}, status_code=400)
        settings = state.settings[app]
        client_id = state.clients[app].client_id
        issued = []
        for n in range(count):
            record = Token(
                app=app,
                client_id=client_id,
                grant_id=secrets.token_hex(8),
                account=f"{prefix}-{n}",
                scope="",
                access_token=f"at-{app}-{secrets.token_urlsafe(24)}",
                refresh_token=f"rt-{app}-{secrets.token_urlsafe(32)}",
                expires_at=time.time() + settings.access_ttl,
            )
            state.by_access[record.access_token] = record
            state.by_refresh[record.refresh_token or ""] = record
            issued.append(
                {
                    "account": record.account,
                    "access_token": record.access_token,
                    "refresh_token": record.refresh_token,
                    "expires_in": settings.access_ttl,
                    "token_type": "Bearer",
                }
            )
        state.ledger.tokens_issued += count
        state.ledger.bulk_grants += count
        return JSONResponse({"tokens": issued})

    async def ledger(_request: Request) -> Response:
        return JSONResponse(state.ledger.__dict__)

    async def issued(_request: Request) -> Response:
        """Every token handed out, so leak tests know what to look for."""
        values = set(state.by_access)
        values |= {t for t in state.by_refresh}
        return JSONResponse(sorted(values))

    async def expire_all(request: Request) -> Response:
        app = request.path_params["app"]
        for token in state.by_access.values():
            if token.app == app:
                token.expires_at = 0
        return JSONResponse({"expired": app})

    return [
        Route(f"/oauth/{OIDC}/.well-known/openid-configuration", discovery),
        Route(f"/oauth/{OIDC}/jwks", jwks),
        Route(f"/oauth/{OIDC}/introspect", introspect, methods=["POST"]),
        Route(f"/_standin/oauth/{OIDC}/next-account", next_account, methods=["PUT"]),
        Route("/oauth/{app}/authorize", authorize, methods=["GET", "POST"]),
        Route("/oauth/{app}/token", token, methods=["POST"]),
        Route("/oauth/{app}/revoke", revoke, methods=["POST"]),
        Route("/oauth/{app}/userinfo", userinfo, methods=["GET", "POST"]),
        Route("/_standin/oauth/{app}/settings", configure, methods=["PUT"]),
        Route("/_standin/oauth/{app}/expire", expire_all, methods=["POST"]),
        Route("/_standin/oauth/{app}/grants", bulk_grants, methods=["POST"]),
        Route("/_standin/oauth/ledger", ledger),
        Route("/_standin/oauth/issued", issued),
    ]
