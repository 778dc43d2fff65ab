"""The stand-in OAuth 2.0 server behaves like a strict real provider.

Driven over loopback HTTP with authlib's httpx client, the same client side the
product uses, so these tests also pin down what the product can rely on.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client

from connections_app.standin.oauth import client_id_for, client_secret_for
from tests.standin_fixtures import StandIn

REDIRECT = "http://127.0.0.1:9/oauth/callback"


@pytest.fixture
def oauth(standin: StandIn) -> Iterator[StandIn]:
    yield standin


def _client(standin: StandIn, app: str = "slack") -> OAuth2Client:
    return OAuth2Client(
        client_id=client_id_for(app),
        client_secret=client_secret_for(app),
        redirect_uri=REDIRECT,
        scope="chat:write",
        code_challenge_method="S256",
        token_endpoint=f"{standin.url}/oauth/{app}/token",
        timeout=5,
    )


def _consent(
    standin: StandIn, authorize_url: str, decision: str = "allow", account: str = "alice"
) -> dict[str, str]:
    """Show the consent page, answer it, and return the redirect's query parameters."""
    with httpx.Client(timeout=5, follow_redirects=False) as http:
        page = http.get(authorize_url)
        assert page.status_code == 200, page.text
        assert "Allow" in page.text and "Deny" in page.text
        answer = http.post(authorize_url, data={"decision": decision, "account": account})
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _authorize(standin: StandIn, client: OAuth2Client, app: str = "slack") -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    url, _state = client.create_authorization_url(
        f"{standin.url}/oauth/{app}/authorize", code_verifier=verifier
    )
    return url, verifier


def _connect(standin: StandIn, app: str = "slack", account: str = "alice") -> dict:
    client = _client(standin, app)
    url, verifier = _authorize(standin, client, app)
    params = _consent(standin, url, account=account)
    return client.fetch_token(code=params["code"], code_verifier=verifier)


def _ledger(standin: StandIn) -> dict:
    return standin.control("GET", "/oauth/ledger").json()


def _settings(standin: StandIn, app: str, **values: object) -> None:
    standin.control("PUT", f"/oauth/{app}/settings", values)


def test_code_flow_with_pkce_gives_tokens_identity_and_api_access(oauth: StandIn) -> None:
    token = _connect(oauth, account="bob")
    assert token["token_type"].lower() == "bearer"
    assert token["refresh_token"] and token["expires_in"] == 3600
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    me = httpx.get(f"{oauth.url}/oauth/slack/userinfo", headers=auth)
    assert me.json()["team_id"] == "T-bob"
    api = httpx.post(f"{oauth.url}/slack/api/auth.test", headers=auth)
    assert api.status_code == 200
    other_app = httpx.get(f"{oauth.url}/github/user", headers=auth)
    assert other_app.status_code == 401, "a Slack token opens Slack only"


def test_authorization_without_pkce_is_refused(oauth: StandIn) -> None:
    client = _client(oauth)
    url, _ = client.create_authorization_url(f"{oauth.url}/oauth/slack/authorize")
    response = httpx.get(url)
    assert response.status_code == 400
    assert "PKCE" in response.text


@pytest.mark.parametrize("verifier", [None, "wrong"])
def test_missing_or_wrong_verifier_is_refused(oauth: StandIn, verifier: str | None) -> None:
    client = _client(oauth)
    url, _right = _authorize(oauth, client)
    params = _consent(oauth, url)
    data = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": REDIRECT,
    }
    if verifier:
        data["code_verifier"] = secrets.token_urlsafe(48)
    response = httpx.post(
        f"{oauth.url}/oauth/slack/token",
        data=data,
        auth=(client_id_for("slack"), client_secret_for("slack")),
    )
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "invalid_grant")


def test_code_is_single_use(oauth: StandIn) -> None:
    client = _client(oauth)
    url, verifier = _authorize(oauth, client)
    params = _consent(oauth, url)
    client.fetch_token(code=params["code"], code_verifier=verifier)
    with pytest.raises(Exception, match="invalid_grant"):
        _client(oauth).fetch_token(code=params["code"], code_verifier=verifier)


def test_deny_redirects_with_access_denied(oauth: StandIn) -> None:
    client = _client(oauth)
    url, _ = _authorize(oauth, client)
    params = _consent(oauth, url, decision="deny")
    assert params["error"] == "access_denied"
    assert "code" not in params


def test_foreign_redirect_uri_is_never_followed(oauth: StandIn) -> None:
    client = _client(oauth)
    client.redirect_uri = "https://attacker.example/cb"
    url, _ = _authorize(oauth, client)
    response = httpx.get(url)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_refresh_rotates_and_reuse_revokes_the_whole_grant(oauth: StandIn) -> None:
    first = _connect(oauth)
    client = _client(oauth)
    second = client.refresh_token(
        f"{oauth.url}/oauth/slack/token", refresh_token=first["refresh_token"]
    )
    assert second["refresh_token"] != first["refresh_token"]
    with pytest.raises(Exception, match="invalid_grant"):
        _client(oauth).refresh_token(
            f"{oauth.url}/oauth/slack/token", refresh_token=first["refresh_token"]
        )
    assert _ledger(oauth)["reuse_detected"] == 1
    with pytest.raises(Exception, match="invalid_grant"):
        _client(oauth).refresh_token(
            f"{oauth.url}/oauth/slack/token", refresh_token=second["refresh_token"]
        )
    auth = {"Authorization": f"Bearer {second['access_token']}"}
    assert httpx.post(f"{oauth.url}/slack/api/auth.test", headers=auth).status_code == 401


def test_non_rotating_provider_keeps_the_old_refresh_token(oauth: StandIn) -> None:
    _settings(oauth, "slack", rotate_refresh_token=False, include_expires_in=False)
    first = _connect(oauth)
    assert "expires_in" not in first
    raw = httpx.post(
        f"{oauth.url}/oauth/slack/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=(client_id_for("slack"), client_secret_for("slack")),
    )
    assert raw.status_code == 200
    again = raw.json()
    assert "refresh_token" not in again
    third = _client(oauth).refresh_token(
        f"{oauth.url}/oauth/slack/token", refresh_token=first["refresh_token"]
    )
    assert third["access_token"] != again["access_token"]


def test_revocation_kills_the_grant_and_is_recorded(oauth: StandIn) -> None:
    token = _connect(oauth)
    response = httpx.post(
        f"{oauth.url}/oauth/slack/revoke",
        data={"token": token["refresh_token"], "token_type_hint": "refresh_token"},
        auth=(client_id_for("slack"), client_secret_for("slack")),
    )
    assert response.status_code == 200
    assert _ledger(oauth)["revocations"][0]["app"] == "slack"
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    assert httpx.post(f"{oauth.url}/slack/api/auth.test", headers=auth).status_code == 401


def test_failure_switches(oauth: StandIn) -> None:
    token = _connect(oauth)
    url = f"{oauth.url}/oauth/slack/token"
    _settings(oauth, "slack", token_mode="error")
    with pytest.raises(Exception, match=r"503|temporarily_unavailable"):
        _client(oauth).refresh_token(url, refresh_token=token["refresh_token"])
    _settings(oauth, "slack", token_mode="invalid_grant")
    with pytest.raises(Exception, match="invalid_grant"):
        _client(oauth).refresh_token(url, refresh_token=token["refresh_token"])
    _settings(oauth, "slack", token_mode="ok")
    assert _client(oauth).refresh_token(url, refresh_token=token["refresh_token"])


def test_client_credentials_grant(oauth: StandIn) -> None:
    client = OAuth2Client(
        client_id=client_id_for("paypal"), client_secret=client_secret_for("paypal")
    )
    token = client.fetch_token(f"{oauth.url}/oauth/paypal/token", grant_type="client_credentials")
    assert token["access_token"] and "refresh_token" not in token


def test_wrong_client_secret_is_refused(oauth: StandIn) -> None:
    response = httpx.post(
        f"{oauth.url}/oauth/paypal/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id_for("paypal"), "not-the-secret"),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
