"""The conversations with an OAuth provider, and nothing else: the authorization URL,
the code exchange, reading who signed in, token refresh, client credentials and
revocation (RFC 7009). No function here reads or writes a connection: the lifecycle
of connection rows belongs to `core/connections/`, which calls these.

Failures are classified: timeouts, network errors and provider 5xx /
`temporarily_unavailable` are transient; `invalid_grant` and friends are permanent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client

from connections_app.core import egress
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


class ProviderError(DomainError):
    """A provider answered no, or could not be reached; the message is for people."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


def is_client_credentials(definition: AppDefinition) -> bool:
    return bool(definition.oauth and definition.oauth.grant_type == "client_credentials")


def authorization_url(
    definition: AppDefinition, *, client_id: str, redirect_uri: str, state: str, verifier: str
) -> str:
    """The provider URL the popup goes to (PKCE S256 when the catalog says so)."""
    assert definition.oauth is not None and definition.oauth.authorize_url
    client = OAuth2Client(  # builds a URL only: nothing is sent from here
        client_id=client_id,
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


def exchange_code(
    definition: AppDefinition,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    code: str,
    verifier: str,
) -> dict[str, Any]:
    """The authorization code for tokens, server-side, with the PKCE verifier."""
    assert definition.oauth is not None
    client = OAuth2Client(
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
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
        raise ProviderError(f"{definition.name} refused the code exchange ({err.error}).") from None
    except httpx.HTTPError as err:
        refused = egress.describe(err)
        raise ProviderError(
            refused or f"{definition.name} is unreachable ({type(err).__name__}). Try again."
        ) from None


def _dig(document: Any, path: str) -> str | None:
    value = document
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)[:255]
    return None


def read_identity(
    definition: AppDefinition, token: dict[str, Any]
) -> tuple[str | None, str | None]:
    """The external account behind a token, as the catalog says to read it (F18)."""
    spec = definition.oauth.identity if definition.oauth else None
    if spec is None:
        return None, None
    try:
        with httpx.Client(**egress.client_options(PROVIDER_TIMEOUT)) as http:
            response = http.get(
                spec.url, headers={"Authorization": f"Bearer {token.get(ACCESS, '')}"}
            )
    except httpx.HTTPError as err:
        refused = egress.describe(err)
        raise ProviderError(
            refused + " Nothing was connected."
            if refused
            else f"{definition.name} is unreachable ({type(err).__name__}); nothing was connected."
        ) from None
    if response.status_code != 200:
        raise ProviderError(
            f"{definition.name} did not tell which account signed in "
            f"(HTTP {response.status_code}); nothing was connected."
        )
    try:
        document = response.json()
    except ValueError:
        document = None
    external_id = _dig(document, spec.id_path)
    if external_id is None:
        raise ProviderError(f"{definition.name} sent no account id; nothing was connected.")
    name = _dig(document, spec.name_path) if spec.name_path else None
    return external_id, name


def _token_call(
    definition: AppDefinition,
    client_id: str,
    client_secret: str,
    what: str,
    call: Callable[[OAuth2Client, str], Any],
) -> dict[str, Any]:
    """One call to the provider's token endpoint, its failures sorted into
    permanent (the provider said no) and transient (it could not be reached)."""
    assert definition.oauth is not None
    client = OAuth2Client(
        client_id=client_id,
        client_secret=client_secret,
        **egress.client_options(PROVIDER_TIMEOUT),
    )
    try:
        with client:
            return dict(call(client, definition.oauth.token_url))
    except OAuthError as err:
        raise ProviderError(
            f"{definition.name} refused the {what} ({err.error}).",
            permanent=err.error in PERMANENT_ERRORS,
        ) from None
    except egress.EgressRefused as err:
        # The installation forbids this endpoint: retrying will not help.
        raise ProviderError(str(err), permanent=True) from None
    except (httpx.HTTPError, ValueError) as err:
        raise ProviderError(
            f"{definition.name} could not be reached for the {what} ({type(err).__name__}).",
            permanent=False,
        ) from None


def fetch_client_credentials(
    definition: AppDefinition, client_id: str, client_secret: str
) -> dict[str, Any]:
    """A token for a server-to-server app: no person, no consent, no refresh token."""
    return _token_call(
        definition,
        client_id,
        client_secret,
        "app credentials",
        lambda client, url: client.fetch_token(url, grant_type="client_credentials"),
    )


def refresh_tokens(
    definition: AppDefinition, *, client_id: str, client_secret: str, refresh: str
) -> dict[str, Any]:
    """Trade a refresh token for new tokens; an answer without a refresh token keeps none."""
    token = _token_call(
        definition,
        client_id,
        client_secret,
        "refresh",
        lambda client, url: client.refresh_token(url, refresh_token=refresh),
    )
    if token.get(REFRESH) == refresh:
        token.pop(REFRESH)  # authlib copies the old one in when the answer had none
    return token


def revoke_token(
    definition: AppDefinition, *, client_id: str, client_secret: str, token: str, hint: str
) -> bool:
    """RFC 7009, best effort: three attempts; returns whether the provider confirmed."""
    if definition.oauth is None or not definition.oauth.revoke_url:
        return False
    for attempt in range(3):
        try:
            with OAuth2Client(
                client_id=client_id,
                client_secret=client_secret,
                **egress.client_options(PROVIDER_TIMEOUT),
            ) as client:
                response = client.revoke_token(
                    definition.oauth.revoke_url, token=token, token_type_hint=hint
                )
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
