"""The provider conversation's pure parts: the authorization URL (scope, PKCE switch,
allow-listed extras, "Connect another account"), RFC 6749 §2.3.1 Basic credentials,
bounded error descriptions and the RFC 9207 issuer check."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, unquote_plus, urlsplit

from connections_app.core.catalog import get_catalog
from connections_app.core.oauth import provider
from connections_app.core.oauth.flow import _issuer_refusal
from connections_app.core.oauth.provider import ProviderSettings

SETTINGS = ProviderSettings(
    name="Acme ID",
    token_url="https://id.acme.test/token",
    authorize_url="https://id.acme.test/authorize?tenant=7",
    issuer="https://id.acme.test",
    scopes=("openid", "email"),
    extra_params=(("audience", "api://x"), ("prompt", "consent"), ("redirect_uri", "evil")),
)


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_the_authorization_url_sends_scope_pkce_nonce_and_allowed_extras_only() -> None:
    url = provider.authorization_url(
        SETTINGS, client_id="c", redirect_uri="http://127.0.0.1/cb", state="s" * 43, verifier="v"
    )
    q = _query(url)
    assert q["tenant"] == ["7"] and q["scope"] == ["openid email"]
    assert q["code_challenge_method"] == ["S256"] and q["nonce"] == [provider.nonce_for("s" * 43)]
    assert q["audience"] == ["api://x"] and q["prompt"] == ["consent"]
    assert q["redirect_uri"] == ["http://127.0.0.1/cb"]  # the extra could not override it


def test_another_account_asks_to_select_unless_login_is_configured() -> None:
    url = provider.authorization_url(
        SETTINGS,
        client_id="c",
        redirect_uri="r",
        state="s" * 43,
        verifier="v",
        another_account=True,
    )
    assert _query(url)["prompt"] == ["select_account"]
    login = ProviderSettings(**{**SETTINGS.__dict__, "extra_params": (("prompt", "login"),)})
    url = provider.authorization_url(
        login, client_id="c", redirect_uri="r", state="s" * 43, verifier="v", another_account=True
    )
    assert _query(url)["prompt"] == ["login"]


def test_pkce_off_sends_no_challenge_and_a_catalog_app_keeps_its_scopes() -> None:
    off = ProviderSettings(**{**SETTINGS.__dict__, "pkce": False, "scopes": ()})
    q = _query(
        provider.authorization_url(off, client_id="c", redirect_uri="r", state="s", verifier="v")
    )
    assert "code_challenge" not in q and "scope" not in q and "nonce" not in q
    slack = ProviderSettings.from_definition(get_catalog().get("slack"))
    assert slack.scopes == ("chat:write", "channels:read") and slack.identity_field == "team_id"


def test_basic_credentials_are_form_encoded_before_base64() -> None:
    header = provider._basic("id:with space", "s3cr+et%2F:x/y")
    decoded = base64.b64decode(header.removeprefix("Basic ")).decode()
    raw_id, _, raw_secret = decoded.partition(":")
    assert raw_id == "id%3Awith+space" and raw_secret == "s3cr%2Bet%252F%3Ax%2Fy"
    assert (unquote_plus(raw_id), unquote_plus(raw_secret)) == ("id:with space", "s3cr+et%2F:x/y")


def test_error_descriptions_are_bounded_and_stripped() -> None:
    assert provider.clean_description("bad\r\nthing\x00here") == "bad thing here"
    assert len(provider.clean_description("x" * 5000)) == 200
    assert provider.clean_description(None) == "" and provider.clean_description(["x"]) == ""


def test_the_issuer_check() -> None:
    assert _issuer_refusal(SETTINGS, {"iss": "https://id.acme.test"}) is None
    assert _issuer_refusal(SETTINGS, {}) is None  # not advertised: absence is allowed
    assert "another issuer" in (_issuer_refusal(SETTINGS, {"iss": "https://evil.test"}) or "")
    strict = ProviderSettings(**{**SETTINGS.__dict__, "iss_required": True})
    assert "no “iss”" in (_issuer_refusal(strict, {}) or "")
