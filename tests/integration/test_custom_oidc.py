"""Custom OAuth 2.0 against the stand-in's standards-mode OpenID Connect provider on
loopback: discovery, scope and nonce sent, ID token verified, RFC 9207 `iss`, the
provider's `error_description`, RFC 6749 §2.3.1 client authentication with a secret
holding `+ % : /`, public client, PKCE off, rotating refresh tokens, revocation seen by
introspection, identity rules, and account-first client resolution."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.connections import oauth_lifecycle, service, tokens
from connections_app.core.connections.models import Connection
from connections_app.core.errors import Forbidden, Invalid, NotFound
from connections_app.core.identity import service as identity
from connections_app.core.oauth import apps, clients, flow
from connections_app.core.oauth.provider import ProviderError
from connections_app.core.vault import Vault
from connections_app.standin.oauth import (
    OIDC_CLIENT_ID,
    OIDC_CLIENT_SECRET,
    OIDC_PUBLIC_CLIENT_ID,
    client_id_for,
    client_secret_for,
)
from tests.conftest import World
from tests.integration.oauth_helpers import connect, session_for
from tests.standin_fixtures import StandIn


def _issuer(standin: StandIn) -> str:
    return f"{standin.url}/oauth/oidc"


def _register(
    engine: Engine,
    vault: Vault,
    world: World,
    standin: StandIn,
    name: str,
    *,
    secret: str | None = OIDC_CLIENT_SECRET,
    **values: object,
) -> str:
    found = apps.discover(world.actors["acct_admin"], _issuer(standin))
    form: dict[str, object] = {
        "app": "custom_oauth2",
        "name": name,
        "client_id": OIDC_CLIENT_ID,
        "issuer": found.issuer,
        "authorize_url": found.authorize_url,
        "token_url": found.token_url,
        "revocation_url": found.revocation_url,
        "userinfo_url": found.userinfo_url,
        "jwks_url": found.jwks_url,
        "iss_required": found.iss_required,
        "scopes": "openid profile email",
        "api_base_url": f"{standin.url}/oauth/oidc",
        **values,
    }
    with Session(engine, expire_on_commit=False) as db:
        view = apps.save_app(
            db, world.actors["acct_admin"], vault=vault, values=form, client_secret=secret
        )
    return view.id


def _ledger(standin: StandIn) -> dict:
    return standin.control("GET", "/oauth/ledger").json()


def _connect(
    engine: Engine, vault: Vault, token: str, oauth_app: str | None, **kwargs: Any
) -> flow.FlowOutcome:
    return connect(
        engine, vault, token, app=kwargs.pop("app", "custom_oauth2"), oauth_app=oauth_app, **kwargs
    )


def _rows(engine: Engine, workspace_id: str, oauth_app: str) -> list[Connection]:
    with Session(engine) as db:
        found = db.exec(
            select(Connection).where(
                Connection.workspace_id == workspace_id, Connection.app == "custom_oauth2"
            )
        ).all()
        return sorted(
            (c for c in found if c.config.get("oauth_app_id") == oauth_app),
            key=lambda c: c.created_at,
        )


def _introspect(standin: StandIn, token: str) -> dict:
    pair = f"{quote_plus(OIDC_CLIENT_ID)}:{quote_plus(OIDC_CLIENT_SECRET)}"
    answer = httpx.post(
        f"{_issuer(standin)}/introspect",
        data={"token": token},
        headers={"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def token(engine: Engine, world: World) -> str:
    return session_for(engine, world.user_ids["admin1"])


def test_discovery_checks_the_issuer(standin: StandIn, world: World) -> None:
    admin = world.actors["acct_admin"]
    with pytest.raises(Forbidden):
        apps.discover(world.actors["admin1"], _issuer(standin))
    found = apps.discover(admin, _issuer(standin))
    assert found.iss_required and found.pkce_s256
    assert "client_secret_basic" in found.auth_methods and "none" in found.auth_methods
    assert found.token_url == f"{_issuer(standin)}/token"
    with pytest.raises(ProviderError, match="another issuer"):
        apps.discover(admin, _issuer(standin) + "/")
    with pytest.raises(ProviderError):
        apps.discover(admin, f"{standin.url}/nowhere")
    with pytest.raises(Invalid):
        apps.discover(admin, "file:///etc/passwd")


def test_the_standin_refuses_basic_credentials_that_were_not_form_encoded(
    standin: StandIn,
) -> None:
    """The strictness the client-authentication tests rely on (they could fail)."""
    raw = base64.b64encode(f"{OIDC_CLIENT_ID}:{OIDC_CLIENT_SECRET}".encode()).decode()
    answer = httpx.post(
        f"{_issuer(standin)}/token",
        data={"grant_type": "refresh_token", "refresh_token": "nope"},
        headers={"Authorization": f"Basic {raw}"},
        timeout=5,
    )
    assert answer.status_code in (400, 401) and answer.json()["error"] == "invalid_client"


def test_connect_refresh_revoke_with_client_secret_basic(
    engine: Engine, vault: Vault, world: World, standin: StandIn, token: str
) -> None:
    app_id = _register(engine, vault, world, standin, "Stand-in ID basic")
    outcome = _connect(engine, vault, token, app_id)
    assert outcome.ok and outcome.outcome == "connected", outcome.message
    asked = _ledger(standin)["last_authorize"]
    assert asked["scope"] == "openid profile email" and asked["nonce"]
    assert asked["code_challenge_method"] == "S256" and "prompt" not in asked
    assert _ledger(standin)["token_auth"] == ["client_secret_basic"]
    (conn,) = _rows(engine, world.ws1, app_id)
    assert conn.label == "Stand-in ID basic (Alice Example)"
    assert conn.external_identity == "sub-alice"
    assert conn.config["api_base_url"] == _issuer(standin)
    assert conn.config["test_path"] == "/userinfo"
    with Session(engine, expire_on_commit=False) as db:  # Test calls userinfo with the token
        actor = identity.actor_for_token(db, token)
        tested = service.test(db, actor=actor, connection_id=conn.id)
    assert tested.ok, tested

    # Refresh now, twice: each answer rotates the refresh token; no reuse is detected.
    with Session(engine, expire_on_commit=False) as db:
        actor = identity.actor_for_token(db, token)
        for _ in range(2):
            result = tokens.refresh_now(db, actor=actor, connection_id=conn.id, vault=vault)
            assert result.result == "refreshed", result.message
    ledger = _ledger(standin)
    assert ledger["refreshes"] == 2 and ledger["reuse_detected"] == 0

    with Session(engine, expire_on_commit=False) as db:
        row = db.get(Connection, conn.id)
        assert row is not None
        access = tokens._open(db, vault, row, "access_token")
        assert access is not None
    assert _introspect(standin, access)["active"] is True
    with Session(engine, expire_on_commit=False) as db:
        actor = identity.actor_for_token(db, token)
        assert tokens.revoke(db, actor=actor, connection_id=conn.id, vault=vault).provider_confirmed
    assert _introspect(standin, access) == {"active": False}


def test_same_account_updates_in_place_another_account_is_a_new_connection(
    engine: Engine, vault: Vault, world: World, standin: StandIn, token: str
) -> None:
    app_id = _register(engine, vault, world, standin, "Stand-in ID people")
    first = _connect(engine, vault, token, app_id, account="alice")
    again = _connect(engine, vault, token, app_id, account="alice")
    assert again.outcome == "reauthorized" and again.connection_id == first.connection_id
    assert [c.label for c in _rows(engine, world.ws1, app_id)] == [
        "Stand-in ID people (Alice Example)"
    ]

    other = _connect(engine, vault, token, app_id, account="bob", another=True)
    assert other.outcome == "connected", other.message
    assert _ledger(standin)["last_authorize"]["prompt"] == "select_account"
    labels = [c.label for c in _rows(engine, world.ws1, app_id)]
    assert labels == ["Stand-in ID people (Alice Example)", "Stand-in ID people (Bob Example)"]

    # Reconnect Alice's connection signed in as Bob: refused, nothing changed.
    before = {
        c.id: (c.token_version, c.external_identity) for c in _rows(engine, world.ws1, app_id)
    }
    refused = _connect(engine, vault, token, app_id, account="bob", target=first.connection_id)
    assert (
        not refused.ok
        and "different" in refused.message
        and "Nothing was changed" in (refused.message)
    )
    after = {c.id: (c.token_version, c.external_identity) for c in _rows(engine, world.ws1, app_id)}
    assert after == before


def test_a_wrong_or_missing_iss_is_refused_and_nothing_is_connected(
    engine: Engine, vault: Vault, world: World, standin: StandIn, token: str
) -> None:
    app_id = _register(engine, vault, world, standin, "Stand-in ID mixup")
    standin.control("PUT", "/oauth/oidc/settings", {"wrong_iss": True})
    wrong = _connect(engine, vault, token, app_id)
    assert not wrong.ok and "another issuer" in wrong.message
    standin.control("PUT", "/oauth/oidc/settings", {"wrong_iss": False, "send_iss": False})
    missing = _connect(engine, vault, token, app_id)
    assert not missing.ok and "no “iss”" in missing.message
    assert _rows(engine, world.ws1, app_id) == []
    assert _ledger(standin)["tokens_issued"] == 0  # the code was never exchanged


def test_deny_shows_the_providers_description(
    engine: Engine, vault: Vault, world: World, standin: StandIn, token: str
) -> None:
    app_id = _register(engine, vault, world, standin, "Stand-in ID deny")
    outcome = _connect(engine, vault, token, app_id, decision="deny")
    assert not outcome.ok
    assert outcome.message == (
        "You declined access at Stand-in ID deny. Nothing was connected. "
        "Stand-in ID deny said: “The person declined to share their account.”"
    )
    assert "http" not in outcome.message


@pytest.mark.parametrize(
    ("method", "client_id", "secret", "pkce"),
    [
        ("client_secret_post", OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, True),
        ("none", OIDC_PUBLIC_CLIENT_ID, None, True),
        ("client_secret_basic", OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, False),
    ],
)
def test_client_authentication_methods_and_pkce_off(
    engine: Engine,
    vault: Vault,
    world: World,
    standin: StandIn,
    token: str,
    method: str,
    client_id: str,
    secret: str | None,
    pkce: bool,
) -> None:
    app_id = _register(
        engine,
        vault,
        world,
        standin,
        f"Stand-in ID {method} {pkce}",
        secret=secret,
        client_id=client_id,
        token_auth_method=method,
        pkce=pkce,
    )
    outcome = _connect(engine, vault, token, app_id)
    assert outcome.ok, outcome.message
    assert _ledger(standin)["token_auth"] == [method]
    assert ("code_challenge_method" in _ledger(standin)["last_authorize"]) is pkce


def test_rotating_the_account_secret_is_used_by_the_next_refresh(
    engine: Engine, vault: Vault, world: World, standin: StandIn, token: str
) -> None:
    app_id = _register(engine, vault, world, standin, "Stand-in ID rotate")
    outcome = _connect(engine, vault, token, app_id)
    assert outcome.ok, outcome.message
    with Session(engine, expire_on_commit=False) as db:
        apps.rotate_secret(
            db,
            world.actors["acct_admin"],
            vault=vault,
            app_id=app_id,
            client_secret="a-rotated-secret-the-provider-does-not-know",
        )
        actor = identity.actor_for_token(db, token)
        result = tokens.refresh_now(
            db, actor=actor, connection_id=outcome.connection_id, vault=vault
        )
    assert result.result == "permanent" and "invalid_client" in result.message


def test_the_accounts_registration_wins_over_the_installations(
    engine: Engine, vault: Vault, world: World, standin: StandIn, token: str
) -> None:
    with Session(engine, expire_on_commit=False) as db:
        # The installation's registration is wrong: if it were used, the exchange fails.
        clients.set_client(
            db, vault=vault, app="github", client_id="not-the-client", client_secret="nope"
        )
        db.commit()
        view = apps.save_app(
            db,
            world.actors["acct_admin"],
            vault=vault,
            values={"app": "github", "client_id": client_id_for("github")},
            client_secret=client_secret_for("github"),
        )
    outcome = _connect(engine, vault, token, None, app="github", account="dora")
    assert outcome.ok, outcome.message
    with Session(engine, expire_on_commit=False) as db:
        actor = identity.actor_for_token(db, token)
        refreshed = tokens.refresh_now(
            db, actor=actor, connection_id=outcome.connection_id, vault=vault
        )
        assert refreshed.result == "refreshed", refreshed.message
        # In use: deleting the registration or moving its client id is refused.
        with pytest.raises(apps.Conflict, match="use this OAuth app"):
            apps.delete_app(db, world.actors["acct_admin"], app_id=view.id)
        with pytest.raises(apps.Conflict, match="client_id"):
            apps.save_app(
                db,
                world.actors["acct_admin"],
                vault=vault,
                app_id=view.id,
                values={"client_id": "another"},
            )


def test_another_accounts_oauth_app_cannot_be_used_to_connect(
    engine: Engine, vault: Vault, world: World, standin: StandIn
) -> None:
    app_id = _register(engine, vault, world, standin, "Stand-in ID private")
    foreign = session_for(engine, world.user_ids["foreign_admin"])
    for hostile in (app_id, "0" * 32, None, ["x"], "x" * 400):
        with Session(engine, expire_on_commit=False) as db:
            actor = identity.actor_for_token(db, foreign)
            with pytest.raises(NotFound):
                oauth_lifecycle.start(
                    db,
                    actor=actor,
                    session_token=foreign,
                    app="custom_oauth2",
                    redirect_uri="http://127.0.0.1:9/oauth/callback",
                    vault=vault,
                    oauth_app=hostile,
                )
    assert _ledger(standin)["codes_issued"] == 0


def test_the_standin_preselects_the_signed_in_account_unless_asked_to_choose(
    standin: StandIn,
) -> None:
    standin.control("PUT", "/oauth/oidc/next-account", {"account": "bob"})
    base = (
        f"{_issuer(standin)}/authorize?response_type=code&client_id={OIDC_CLIENT_ID}"
        "&redirect_uri=http://127.0.0.1:9/cb&state=abc&scope=openid"
    )
    plain = httpx.get(base, timeout=5).text
    choose = httpx.get(base + "&prompt=select_account", timeout=5).text
    assert '<option value="bob" selected>' in plain
    assert " selected>" not in choose
