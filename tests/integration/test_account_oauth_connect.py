"""Account connections made by signing in (F9, F26): an account admin connects an
OAuth app in account scope; the connection belongs to the account (its tokens sealed
with the account's key), reaches a workspace only through a grant, is reconnected in
place by account admins and by nobody else."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from connections_app.core.connections import grants
from connections_app.core.connections.models import Connection, ConnectionSecret
from connections_app.core.errors import Forbidden, Invalid, NotFound
from connections_app.core.identity import service as identity
from connections_app.core.oauth.models import OAuthFlow
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.vault import Vault
from tests.conftest import World
from tests.integration.oauth_helpers import REDIRECT, connect, register_clients, session_for
from tests.standin_fixtures import StandIn


@pytest.fixture(scope="module")
def registered(engine: Engine, vault: Vault) -> None:
    register_clients(engine, vault, ("slack",))


@pytest.fixture
def ada_token(engine: Engine, world: World, registered: None) -> str:
    return session_for(engine, world.user_ids["acct_admin"])


def _start(engine: Engine, vault: Vault, token: str, **kwargs: object) -> str:
    from connections_app.core.connections import oauth_lifecycle

    with Session(engine) as db:
        actor = identity.actor_for_token(db, token)
        return oauth_lifecycle.start(
            db,
            actor=actor,
            session_token=token,
            app="slack",
            redirect_uri=REDIRECT,
            vault=vault,
            **kwargs,  # type: ignore[arg-type]
        )


def _flows(engine: Engine) -> int:
    with Session(engine) as db:
        return db.exec(select(func.count()).select_from(OAuthFlow)).one()


def test_an_account_admin_connects_in_account_scope_and_again_in_place(
    engine: Engine, vault: Vault, world: World, standin: StandIn, ada_token: str
) -> None:
    first = connect(engine, vault, ada_token, account="dave", scope="account")
    assert first.ok and first.outcome == "connected", first.message
    with Session(engine) as db:
        conn = db.get(Connection, first.connection_id)
        assert conn is not None
        assert (conn.scope, conn.workspace_id, conn.tenant_id) == (
            "account",
            None,
            world.account_id,
        )
        assert (conn.status, conn.external_identity, conn.label) == (
            "active",
            "T-dave",
            "Slack (Dave's team)",
        )
        sealed_under = set(
            db.exec(
                select(ConnectionSecret.tenant_id).where(ConnectionSecret.connection_id == conn.id)
            )
        )
        assert sealed_under == {world.account_id}  # the account's data key, no workspace's

    # The same external account again: the same row, new tokens (F18), not "(2)".
    again = connect(engine, vault, ada_token, account="dave", scope="account")
    assert (again.outcome, again.connection_id) == ("reauthorized", first.connection_id)
    # A workspace connection of the same account is another owner's row entirely.
    admin1 = session_for(engine, world.user_ids["admin1"])
    own = connect(engine, vault, admin1, account="dave")
    assert own.outcome == "connected" and own.connection_id != first.connection_id

    # Reconnect from the account screens (target = the connection): in place.
    reconnect = connect(engine, vault, ada_token, account="dave", target=first.connection_id)
    assert (reconnect.outcome, reconnect.connection_id) == ("reauthorized", first.connection_id)


def test_only_account_admins_start_one_and_never_from_a_node(
    engine: Engine, vault: Vault, world: World, standin: StandIn, ada_token: str
) -> None:
    before = _flows(engine)
    for name in ("admin1", "builder1", "viewer1", "client1"):
        token = session_for(engine, world.user_ids[name])
        with pytest.raises((Forbidden, NotFound)):
            _start(engine, vault, token, scope="account")
    with pytest.raises(Invalid):
        _start(engine, vault, ada_token, scope="account", node="a" * 32)
    with pytest.raises(Invalid):
        _start(engine, vault, ada_token, scope="planet")
    assert _flows(engine) == before  # nothing recorded for any refusal


def test_granted_it_is_usable_in_the_workspace_but_only_account_admins_reconnect_it(
    engine: Engine, vault: Vault, world: World, standin: StandIn, ada_token: str
) -> None:
    made = connect(engine, vault, ada_token, account="erin", scope="account")
    assert made.ok, made.message
    builder = world.actors["builder1"]
    with Session(engine) as db:
        picker = connection_scope.usable_connections_query(builder, app="slack")
        assert made.connection_id not in {c.id for c in db.exec(picker)}  # not granted yet
        grants.grant(
            db,
            actor=world.actors["acct_admin"],
            connection_id=made.connection_id,
            workspace_id=world.ws1,
        )
        assert made.connection_id in {c.id for c in db.exec(picker)}
    # A workspace admin sees it (granted) but may not reconnect it: refused, recorded,
    # and no flow is started.
    admin1 = session_for(engine, world.user_ids["admin1"])
    before = _flows(engine)
    with pytest.raises(Forbidden):
        _start(engine, vault, admin1, target=made.connection_id)
    assert _flows(engine) == before
