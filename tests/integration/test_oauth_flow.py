"""The connect flow against the stand-in provider: PKCE, single-use state bound to the
session, identity dedupe (F18), and clear refusals that create nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.clock import utcnow
from connections_app.core.connections import oauth_lifecycle
from connections_app.core.connections.models import Connection, ConnectionSecret
from connections_app.core.identity import service as identity
from connections_app.core.oauth import flow
from connections_app.core.oauth.models import OAuthFlow
from connections_app.core.vault import Vault
from tests.conftest import World
from tests.integration.oauth_helpers import (
    REDIRECT,
    connect,
    consent,
    register_clients,
    session_for,
)
from tests.standin_fixtures import StandIn


@pytest.fixture(scope="module")
def registered(engine: Engine, vault: Vault) -> None:
    register_clients(engine, vault, ("slack", "github"))


@pytest.fixture
def admin_token(engine: Engine, world: World, registered: None) -> str:
    return session_for(engine, world.user_ids["admin1"])


def _oauth_rows(engine: Engine, workspace_id: str, app: str) -> list[Connection]:
    with Session(engine) as db:
        return list(
            db.exec(
                select(Connection).where(
                    Connection.workspace_id == workspace_id,
                    Connection.app == app,
                    Connection.kind == "oauth2",
                )
            )
        )


def test_connect_creates_an_active_connection_with_identity(
    engine: Engine, vault: Vault, world: World, standin: StandIn, admin_token: str
) -> None:
    outcome = connect(engine, vault, admin_token, app="github", account="carol")
    assert outcome.ok and outcome.outcome == "connected", outcome.message
    with Session(engine) as db:
        conn = db.get(Connection, outcome.connection_id)
        assert conn is not None
        assert (conn.status, conn.external_identity, conn.kind) == ("active", "U-carol", "oauth2")
        assert conn.label == "GitHub (carol)"
        assert conn.token_expires_at is not None and conn.next_refresh_at is not None
        fields = {
            r.field
            for r in db.exec(
                select(ConnectionSecret).where(ConnectionSecret.connection_id == conn.id)
            )
        }
    assert fields == {"access_token", "refresh_token"}


def test_same_account_again_updates_in_place(
    engine: Engine, vault: Vault, world: World, standin: StandIn, admin_token: str
) -> None:
    first = connect(engine, vault, admin_token, account="dave")
    second = connect(engine, vault, admin_token, account="dave")
    assert second.ok and second.outcome == "reauthorized"
    assert second.connection_id == first.connection_id
    dave = [c for c in _oauth_rows(engine, world.ws1, "slack") if c.external_identity == "T-dave"]
    assert len(dave) == 1
    other = connect(engine, vault, admin_token, account="erin")
    assert other.connection_id != first.connection_id


def test_deny_creates_nothing_and_says_so(
    engine: Engine, vault: Vault, world: World, standin: StandIn, admin_token: str
) -> None:
    before = len(_oauth_rows(engine, world.ws1, "slack"))
    outcome = connect(engine, vault, admin_token, decision="deny")
    assert not outcome.ok
    assert "declined" in outcome.message
    assert len(_oauth_rows(engine, world.ws1, "slack")) == before


def _started(engine: Engine, vault: Vault, token: str, account: str = "frank") -> dict:
    with Session(engine) as db:
        actor = identity.actor_for_token(db, token)
        url = oauth_lifecycle.start(
            db, actor=actor, session_token=token, app="slack", redirect_uri=REDIRECT, vault=vault
        )
    return consent(url, account=account)


def test_state_is_single_use(
    engine: Engine, vault: Vault, standin: StandIn, admin_token: str
) -> None:
    params = _started(engine, vault, admin_token)
    with Session(engine) as db:
        assert oauth_lifecycle.finish(db, session_token=admin_token, params=params, vault=vault).ok
    with Session(engine) as db:
        replay = oauth_lifecycle.finish(db, session_token=admin_token, params=params, vault=vault)
    assert not replay.ok and "already used" in replay.message


def test_state_from_another_session_is_refused_and_burned(
    engine: Engine, vault: Vault, world: World, standin: StandIn, admin_token: str
) -> None:
    params = _started(engine, vault, admin_token, account="grace")
    intruder = session_for(engine, world.user_ids["admin1"])  # same person, other browser
    with Session(engine) as db:
        foreign = oauth_lifecycle.finish(db, session_token=intruder, params=params, vault=vault)
    assert not foreign.ok and "another session" in foreign.message
    with Session(engine) as db:
        late = oauth_lifecycle.finish(db, session_token=admin_token, params=params, vault=vault)
    assert not late.ok, "a state shown to another session is spent"
    identities = {c.external_identity for c in _oauth_rows(engine, world.ws1, "slack")}
    assert "T-grace" not in identities


def test_expired_state_is_refused(
    engine: Engine, vault: Vault, world: World, standin: StandIn, admin_token: str
) -> None:
    params = _started(engine, vault, admin_token)
    with Session(engine) as db:
        for row in db.exec(select(OAuthFlow).where(OAuthFlow.used_at.is_(None))):  # type: ignore[union-attr]
            row.expires_at = utcnow() - timedelta(seconds=1)
            db.add(row)
        db.commit()
    with Session(engine) as db:
        outcome = oauth_lifecycle.finish(db, session_token=admin_token, params=params, vault=vault)
    assert not outcome.ok and "expired" in outcome.message


@pytest.mark.parametrize("params", [{}, {"state": "x"}, {"state": "y" * 43, "code": "c"}])
def test_garbage_callbacks_are_refused(
    engine: Engine, vault: Vault, admin_token: str, params: dict
) -> None:
    with Session(engine) as db:
        outcome = oauth_lifecycle.finish(db, session_token=admin_token, params=params, vault=vault)
    assert not outcome.ok and "Start again" in outcome.message


def test_roles_that_cannot_create_cannot_start(
    engine: Engine, vault: Vault, world: World, registered: None
) -> None:
    token = session_for(engine, world.user_ids["viewer1"])
    with Session(engine) as db:
        actor = identity.actor_for_token(db, token)
        with pytest.raises(Exception, match="role"):
            oauth_lifecycle.start(
                db,
                actor=actor,
                session_token=token,
                app="slack",
                redirect_uri=REDIRECT,
                vault=vault,
            )


def test_unregistered_app_is_a_clear_error(engine: Engine, vault: Vault, admin_token: str) -> None:
    with Session(engine) as db:
        actor = identity.actor_for_token(db, admin_token)
        with pytest.raises(Exception, match="not set up"):
            oauth_lifecycle.start(
                db,
                actor=actor,
                session_token=admin_token,
                app="hubspot",
                redirect_uri=REDIRECT,
                vault=vault,
            )


def test_no_verifier_token_or_client_secret_reaches_logs_or_urls(
    engine: Engine,
    vault: Vault,
    world: World,
    standin: StandIn,
    admin_token: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from connections_app.core.connections.models import Purpose
    from connections_app.core.vault import Sealed, SealedPlace
    from connections_app.standin.oauth import client_secret_for
    from tests.integration.dbdump import leaks

    caplog.set_level(logging.DEBUG)
    # The app keeps httpx at WARNING; open it up here so its request lines are checked too.
    caplog.set_level(logging.DEBUG, logger="httpx")
    caplog.set_level(logging.DEBUG, logger="httpcore")
    with Session(engine) as db:
        actor = identity.actor_for_token(db, admin_token)
        url = oauth_lifecycle.start(
            db,
            actor=actor,
            session_token=admin_token,
            app="slack",
            redirect_uri=REDIRECT,
            vault=vault,
        )
    params = consent(url, account="heidi")
    with Session(engine) as db:
        outcome = oauth_lifecycle.finish(db, session_token=admin_token, params=params, vault=vault)
    assert outcome.ok, outcome.message
    secrets_seen: list[str] = [client_secret_for("slack")]
    with Session(engine) as db:
        for row in db.exec(
            select(OAuthFlow).where(OAuthFlow.connection_id == outcome.connection_id)
        ):
            secrets_seen.append(
                vault.decrypt(
                    db,
                    place=SealedPlace.oauth_flow(row.workspace_id, row.id),
                    sealed=Sealed(
                        row.verifier_key_version, row.verifier_nonce, row.verifier_ciphertext
                    ),
                )
            )
        for secret_row in db.exec(
            select(ConnectionSecret).where(ConnectionSecret.connection_id == outcome.connection_id)
        ):
            secrets_seen.append(
                vault.decrypt(
                    db,
                    place=SealedPlace.connection_secret(
                        secret_row.tenant_id,
                        secret_row.connection_id,
                        Purpose.LIVE,
                        secret_row.field,
                    ),
                    sealed=Sealed(secret_row.key_version, secret_row.nonce, secret_row.ciphertext),
                )
            )
    assert len(secrets_seen) == 4, "client secret, verifier, access and refresh token"
    # Only our side: the in-process stand-in's own authorization-server logs (authlib's
    # `authlib.oauth2.*` server loggers) are the provider's, not the product's.
    log_text = "\n".join(
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith("authlib.oauth2")
    )
    assert log_text, "the flow logged something to check"
    for value in secrets_seen:
        assert not leaks(log_text, value)
        assert value not in url and value not in outcome.message


def test_old_flows_are_purged(
    engine: Engine, vault: Vault, standin: StandIn, admin_token: str
) -> None:
    _started(engine, vault, admin_token, account="ivan")
    with Session(engine) as db:
        rows = db.exec(select(OAuthFlow)).all()
        assert rows
        for row in rows:
            row.created_at = utcnow() - timedelta(days=2)
            db.add(row)
        db.commit()
        assert flow.purge_finished(db) == len(rows)
        assert db.exec(select(OAuthFlow)).all() == []
