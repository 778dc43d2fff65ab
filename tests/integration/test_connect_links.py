"""Connect links (F24) on a real database: an admin asks, a client answers once, by a
form or through the stand-in provider's consent; every other case creates nothing."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.applications import Starlette

from connections_app.core.audit import AuditEvent
from connections_app.core.clock import utcnow
from connections_app.core.connections import connect_links, oauth_lifecycle
from connections_app.core.connections.connect_links import LinkUnusable
from connections_app.core.connections.models import Connection, ConnectLink
from connections_app.core.errors import DomainError, Forbidden, Invalid, NotFound
from connections_app.core.identity import service as identity
from connections_app.core.oauth.models import OAuthFlow
from connections_app.core.tenancy import policy
from connections_app.core.tenancy.actor import Actor, Role
from connections_app.core.vault import Vault
from connections_app.http.oauth_routes import routes as oauth_routes
from tests.conftest import PASSWORD, World
from tests.integration.cli_env import use_database
from tests.integration.dbdump import dump, leaks
from tests.integration.oauth_helpers import REDIRECT, consent, register_clients, session_for
from tests.standin_fixtures import StandIn

STRIPE_KEY = "sk_test_" + "CanaryLinkKey7Qz9"


@pytest.fixture(scope="module")
def people(engine: Engine, world: World) -> dict[str, Actor]:
    """Two more clients: a second one of workspace 1, and one of workspace 2."""
    found: dict[str, Actor] = {}
    with Session(engine, expire_on_commit=False) as db:
        for name, ws in (("client1b", world.ws1), ("client2", world.ws2)):
            email = f"{name}-{world.account_id[:6]}@example.test"
            user = identity.create_user(db, email=email, name=name.title(), password=PASSWORD)
            identity.add_member(db, workspace_id=ws, user_id=user.id, role=Role.CLIENT, by="t")
            world.user_ids[name] = user.id
            found[name] = Actor(user.id, email, world.account_id, ws, Role.CLIENT)
    return {**world.actors, **found}


@pytest.fixture(scope="module")
def registered(engine: Engine, vault: Vault) -> None:
    register_clients(engine, vault, ("hubspot", "slack"))


def _request(engine: Engine, actor: Actor, **kw: Any) -> connect_links.Requested:
    with Session(engine, expire_on_commit=False) as db:
        return connect_links.request(db, actor, **{"app": "stripe", "label": "Stripe (Acme)", **kw})


def _row(engine: Engine, link_id: str) -> ConnectLink:
    with Session(engine, expire_on_commit=False) as db:
        row = db.get(ConnectLink, link_id)
        assert row is not None
        return row


def _count(engine: Engine, workspace_id: str) -> int:
    with Session(engine) as db:
        return len(db.exec(select(Connection).where(Connection.workspace_id == workspace_id)).all())


def _complete(engine: Engine, actor: Actor, link_id: str, key: str = STRIPE_KEY) -> Any:
    with Session(engine, expire_on_commit=False) as db:
        return connect_links.complete_with_credentials(
            db, actor, link_id=link_id, fields={"secret_key": key}
        )


def test_an_api_key_link_is_answered_once_by_its_client(
    engine: Engine, world: World, people: dict[str, Actor], vault: Vault
) -> None:
    admin, client = people["admin1"], people["client1"]
    asked = _request(engine, admin, client_user_id=world.user_ids["client1"])
    assert asked.link.state == "pending" and asked.link.client_name == "Client1"
    row = _row(engine, asked.link.id)
    assert row.token_hash == connect_links.token_hash(asked.token)
    assert asked.token not in dump(engine)
    with Session(engine) as db:
        page = connect_links.resolve(db, client, token=asked.token)
    assert (page.app_name, page.method, page.kind, page.agency) == (
        "Stripe",
        "form",
        "api_key",
        "Agency",
    )
    assert page.workspace == "Client One"
    assert not policy.can_create(client)  # the link, not the role, allows this one
    view = _complete(engine, client, asked.link.id)
    assert view.label == "Stripe (Acme)" and view.masked_tail and view.masked_tail in STRIPE_KEY
    with Session(engine) as db:
        conn = db.get(Connection, view.id)
        assert conn is not None
        assert (conn.workspace_id, conn.authorized_by, conn.created_by, conn.sharing) == (
            world.ws1,
            client.user_id,
            client.user_id,
            "use",
        )
        used = [
            e.action
            for e in db.exec(select(AuditEvent).where(AuditEvent.target_id == asked.link.id))
        ]
    assert used == ["connect_link_requested", "connect_link_used"]
    row = _row(engine, asked.link.id)
    assert (row.used_by, row.connection_id) == (client.user_id, view.id)
    with Session(engine) as db:
        listed = {v.id: v for v in connect_links.list_links(db, admin)}
    assert listed[asked.link.id].state == "used"
    assert listed[asked.link.id].connection_label == "Stripe (Acme)"
    # The same link again: a clear answer, nothing created.
    before = _count(engine, world.ws1)
    with pytest.raises(LinkUnusable) as used_again:
        _complete(engine, client, asked.link.id)
    assert used_again.value.reason == "used"
    with Session(engine) as db, pytest.raises(LinkUnusable):
        connect_links.resolve(db, client, token=asked.token)
    assert _count(engine, world.ws1) == before
    assert leaks(dump(engine), STRIPE_KEY) == []


def test_a_second_link_with_the_same_label_gets_a_unique_one(
    engine: Engine, people: dict[str, Actor], vault: Vault
) -> None:
    first = _request(engine, people["admin1"], label="Stripe (twice)")
    second = _request(engine, people["admin1"], label="Stripe (twice)")
    assert _complete(engine, people["client1"], first.link.id).label == "Stripe (twice)"
    assert _complete(engine, people["client1"], second.link.id).label == "Stripe (twice) (2)"


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("revoked", "revoked"),
        ("expired", "expired"),
        ("other_client", "other_client"),
        ("forged", "invalid"),
        ("other_workspace", "invalid"),
    ],
)
def test_unusable_links_say_why_and_create_nothing(
    engine: Engine, world: World, people: dict[str, Actor], vault: Vault, setup: str, reason: str
) -> None:
    client = people["client1"]
    asked = _request(engine, people["admin1"], client_user_id=world.user_ids["client1"])
    token, link_id = asked.token, asked.link.id
    if setup == "revoked":
        with Session(engine) as db:
            connect_links.revoke(db, people["admin1"], link_id=link_id)
    elif setup == "expired":
        with Session(engine) as db:
            db.execute(
                update(ConnectLink)
                .where(ConnectLink.id == link_id)  # type: ignore[arg-type]
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            db.commit()
    elif setup == "other_client":
        client = people["client1b"]
    elif setup == "forged":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif setup == "other_workspace":
        client = people["client2"]
    before, snapshot = _count(engine, world.ws1), dump(engine)
    with Session(engine) as db, pytest.raises(LinkUnusable) as err:
        connect_links.resolve(db, client, token=token)
    assert err.value.reason == reason
    assert "Client One" not in str(err.value) and "Agency" not in str(err.value)
    if setup != "forged":
        with pytest.raises(LinkUnusable):
            _complete(engine, client, link_id)
    assert _count(engine, world.ws1) == before
    assert dump(engine) == snapshot


def test_only_clients_answer_and_only_admins_ask_list_and_revoke(
    engine: Engine, world: World, people: dict[str, Actor], vault: Vault
) -> None:
    asked = _request(engine, people["admin1"])  # any client of the workspace
    for name in ("admin1", "builder1", "viewer1", "acct_admin"):
        with Session(engine) as db, pytest.raises(LinkUnusable) as err:
            connect_links.resolve(db, people[name], token=asked.token)
        assert err.value.reason == "not_client", name
    for name in ("admin2", "foreign_admin", "client2"):
        with Session(engine) as db, pytest.raises(LinkUnusable) as err:
            connect_links.resolve(db, people[name], token=asked.token)
        assert err.value.reason == "invalid", name
    # Any client of workspace 1 may answer it.
    with Session(engine) as db:
        assert connect_links.resolve(db, people["client1b"], token=asked.token).id == asked.link.id
    for name in ("builder1", "viewer1", "client1"):
        with Session(engine) as db, pytest.raises(Forbidden):
            connect_links.request(db, people[name], app="stripe", label="x")
        with Session(engine) as db, pytest.raises(Forbidden):
            connect_links.revoke(db, people[name], link_id=asked.link.id)
        with Session(engine) as db:
            assert connect_links.list_links(db, people[name]) == []
    for name in ("admin2", "foreign_admin"):
        with Session(engine) as db, pytest.raises(NotFound):
            connect_links.revoke(db, people[name], link_id=asked.link.id)
        with Session(engine) as db:
            assert asked.link.id not in {v.id for v in connect_links.list_links(db, people[name])}
    # Refusals are audited; nothing else changed.
    assert _row(engine, asked.link.id).revoked_at is None
    with Session(engine) as db:
        for bad in (None, 5, {"id": 1}, "x" * 500):
            with pytest.raises((NotFound, Invalid)):
                connect_links.revoke(db, people["admin1"], link_id=bad)


def test_request_checks_its_inputs(
    engine: Engine, world: World, people: dict[str, Actor], vault: Vault
) -> None:
    admin = people["admin1"]
    snapshot_count = len(_links(engine))
    cases: list[dict[str, Any]] = [
        {"app": "postgresql"},  # a DSN: not a form a client answers
        {"app": "nope"},
        {"app": "stripe", "label": ""},
        {"app": "stripe", "expires_days": 0},
        {"app": "stripe", "expires_days": 31},
        {"app": "stripe", "expires_days": "7; drop"},
        {"app": "stripe", "client_user_id": world.user_ids["builder1"]},
        {"app": "stripe", "client_user_id": people["client2"].user_id},
        {"app": "custom_oauth2", "oauth_app": "not-an-app"},
    ]
    for case in cases:
        with Session(engine) as db, pytest.raises(DomainError):
            connect_links.request(db, admin, **{"label": "L", **case})
    assert len(_links(engine)) == snapshot_count
    asked = _request(engine, admin, expires_days="3")
    assert timedelta(days=2, hours=23) < asked.link.expires_at - utcnow() <= timedelta(days=3)


def _links(engine: Engine) -> list[ConnectLink]:
    with Session(engine) as db:
        return list(db.exec(select(ConnectLink)).all())


def test_a_concurrent_double_use_creates_one_connection(
    engine: Engine, world: World, people: dict[str, Actor], vault: Vault
) -> None:
    asked = _request(engine, people["admin1"], label="Stripe (race)")
    before = _count(engine, world.ws1)
    results: list[str] = []
    barrier = threading.Barrier(4)

    def use(actor: Actor) -> None:
        barrier.wait()
        try:
            _complete(engine, actor, asked.link.id)
            results.append("ok")
        except DomainError as err:
            results.append(type(err).__name__)

    threads = [
        threading.Thread(target=use, args=(people[n],))
        for n in ("client1", "client1b", "client1", "client1b")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1, results
    # Every other use gets a clear answer (no database error escapes to the person).
    assert len(results) == 4 and all(r in ("ok", "Conflict", "LinkUnusable") for r in results)
    assert _count(engine, world.ws1) == before + 1


def test_the_portal_lists_a_clients_pending_links_only(
    engine: Engine, world: World, people: dict[str, Actor], vault: Vault
) -> None:
    mine = _request(engine, people["admin1"], client_user_id=world.user_ids["client1"])
    theirs = _request(engine, people["admin1"], client_user_id=world.user_ids["client1b"])
    anyone = _request(engine, people["admin1"])
    with Session(engine) as db:
        seen = {p.id for p in connect_links.pending_for_client(db, people["client1"])}
        assert {mine.link.id, anyone.link.id} <= seen and theirs.link.id not in seen
        for name in ("admin1", "builder1", "client2", "foreign_admin"):
            listed = {p.id for p in connect_links.pending_for_client(db, people[name])}
            assert not listed & {mine.link.id, anyone.link.id, theirs.link.id}, name
        # The portal opens by id; the id works only for the bound client, like the token.
        assert connect_links.resolve_reference(db, people["client1"], mine.link.id).id == (
            mine.link.id
        )
        for name, reason in (("client1b", "other_client"), ("client2", "invalid")):
            with pytest.raises(LinkUnusable) as err:
                connect_links.resolve_reference(db, people[name], mine.link.id)
            assert err.value.reason == reason


def _hubspot_link_for_client1(
    engine: Engine, world: World, people: dict[str, Actor], label: str
) -> tuple[Any, str]:
    """Admin1 asks client1 for HubSpot; the link and client1's session token."""
    asked = _request(
        engine,
        people["admin1"],
        app="hubspot",
        label=label,
        client_user_id=world.user_ids["client1"],
    )
    return asked, session_for(engine, world.user_ids["client1"])


def _start_popup(engine: Engine, actor: Actor, token: str, vault: Vault, link_id: str) -> str:
    """The link page's Connect button: the provider URL its popup goes to."""
    with Session(engine, expire_on_commit=False) as db:
        return oauth_lifecycle.start(
            db,
            actor=actor,
            session_token=token,
            app=None,
            redirect_uri=REDIRECT,
            vault=vault,
            link=link_id,
        )


def _oauth_through_link(
    engine: Engine, vault: Vault, token: str, link_id: str, account: str = "erin"
) -> Any:
    with Session(engine, expire_on_commit=False) as db:
        actor = identity.actor_for_token(db, token)
    params = consent(_start_popup(engine, actor, token, vault, link_id), account=account)
    with Session(engine, expire_on_commit=False) as db:
        return oauth_lifecycle.finish(db, session_token=token, params=params, vault=vault)


def test_oauth_through_a_link_creates_the_clients_connection(
    engine: Engine,
    world: World,
    people: dict[str, Actor],
    vault: Vault,
    standin: StandIn,
    registered: None,
) -> None:
    asked, token = _hubspot_link_for_client1(engine, world, people, "HubSpot (Acme)")
    outcome = _oauth_through_link(engine, vault, token, asked.link.id)
    assert outcome.ok and outcome.outcome == "connected", outcome.message
    with Session(engine) as db:
        conn = db.get(Connection, outcome.connection_id)
        assert conn is not None
        assert (conn.label, conn.authorized_by, conn.workspace_id, conn.kind) == (
            "HubSpot (Acme)",
            world.user_ids["client1"],
            world.ws1,
            "oauth2",
        )
        flow_row = db.exec(select(OAuthFlow).where(OAuthFlow.connection_id == conn.id)).first()
        assert flow_row is not None and flow_row.connect_link_id == asked.link.id
    assert _row(engine, asked.link.id).connection_id == conn.id
    # The same link again cannot even start a flow.
    with pytest.raises(LinkUnusable):
        _start_popup(engine, people["client1"], token, vault, asked.link.id)


def test_popups_finishing_one_link_at_once_connect_it_once(
    engine: Engine,
    world: World,
    people: dict[str, Actor],
    vault: Vault,
    standin: StandIn,
    registered: None,
) -> None:
    """Four popups opened from one link, their callbacks arriving together: one
    connection, and every other popup says why it saved nothing (no database error)."""
    asked, token = _hubspot_link_for_client1(engine, world, people, "HubSpot (four popups)")
    callbacks = []
    for _ in range(4):
        url = _start_popup(engine, people["client1"], token, vault, asked.link.id)
        callbacks.append(consent(url, account="frank"))
    before = _count(engine, world.ws1)
    outcomes: list[Any] = []
    barrier = threading.Barrier(4)

    def finish(params: dict[str, str]) -> None:
        barrier.wait()
        with Session(engine, expire_on_commit=False) as db:
            outcomes.append(
                oauth_lifecycle.finish(db, session_token=token, params=params, vault=vault)
            )

    threads = [threading.Thread(target=finish, args=(p,)) for p in callbacks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 4, "a callback raised instead of answering"
    assert sum(o.ok for o in outcomes) == 1, [o.message for o in outcomes]
    assert all(o.message for o in outcomes if not o.ok)
    assert _count(engine, world.ws1) == before + 1


def test_oauth_link_refusals_leave_it_pending_and_others_cannot_start(
    engine: Engine,
    world: World,
    people: dict[str, Actor],
    vault: Vault,
    standin: StandIn,
    registered: None,
) -> None:
    asked, token = _hubspot_link_for_client1(engine, world, people, "HubSpot (deny)")
    url = _start_popup(engine, people["client1"], token, vault, asked.link.id)
    params = consent(url, decision="deny")
    before = _count(engine, world.ws1)
    with Session(engine, expire_on_commit=False) as db:
        outcome = oauth_lifecycle.finish(db, session_token=token, params=params, vault=vault)
    assert not outcome.ok and _count(engine, world.ws1) == before
    assert _row(engine, asked.link.id).used_at is None
    # Revoked while the popup is open: the consent creates nothing.
    url = _start_popup(engine, people["client1"], token, vault, asked.link.id)
    with Session(engine) as db:
        connect_links.revoke(db, people["admin1"], link_id=asked.link.id)
    params = consent(url, account="frank")
    with Session(engine, expire_on_commit=False) as db:
        outcome = oauth_lifecycle.finish(db, session_token=token, params=params, vault=vault)
    assert not outcome.ok and _count(engine, world.ws1) == before
    # Other people cannot start a flow from this link (a fresh one).
    fresh = _request(
        engine,
        people["admin1"],
        app="hubspot",
        label="HubSpot (fresh)",
        client_user_id=world.user_ids["client1"],
    )
    for name in ("client1b", "client2", "admin1", "builder1", "foreign_admin"):
        other_token = session_for(engine, world.user_ids[name])
        with pytest.raises(DomainError):
            _start_popup(engine, people[name], other_token, vault, fresh.link.id)
    # A form app's link does not start a flow.
    stripe = _request(engine, people["admin1"], client_user_id=world.user_ids["client1"])
    with pytest.raises(Invalid):
        _start_popup(engine, people["client1"], token, vault, stripe.link.id)
    # And a client still cannot connect without a link.
    with Session(engine) as db, pytest.raises(Forbidden):
        oauth_lifecycle.start(
            db,
            actor=people["client1"],
            session_token=token,
            app="hubspot",
            redirect_uri=REDIRECT,
            vault=vault,
        )


async def test_the_popup_route_starts_only_for_the_links_client(
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    engine: Engine,
    world: World,
    people: dict[str, Actor],
    vault: Vault,
    standin: StandIn,
    registered: None,
) -> None:
    """`/oauth/start?link=<id>`: the person comes from the cookie; anyone else, or no
    session, gets a clear page and no flow; the bound client goes to the provider and
    the callback creates the connection."""
    use_database(monkeypatch, db_url)
    asked = _request(
        engine,
        people["admin1"],
        app="hubspot",
        label="HubSpot (route)",
        client_user_id=world.user_ids["client1"],
    )
    app = Starlette(routes=oauth_routes)

    async def start(token: str | None, link: object) -> httpx.Response:
        cookies = {"cx_session": token} if token else {}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost", cookies=cookies
        ) as client:
            return await client.get("/oauth/start", params={"link": link})

    with Session(engine) as db:
        flows_before = len(db.exec(select(OAuthFlow)).all())
    for name in ("client1b", "client2", "admin1", "viewer1", "foreign_admin"):
        answer = await start(session_for(engine, world.user_ids[name]), asked.link.id)
        assert answer.status_code == 400 and "Not connected" in answer.text, name
    answer = await start(None, asked.link.id)
    assert answer.status_code == 401
    token = session_for(engine, world.user_ids["client1"])
    for hostile in ("0" * 32, "x" * 5000, "../../x", asked.token):
        answer = await start(token, hostile)
        assert answer.status_code == 400, hostile
    with Session(engine) as db:
        assert len(db.exec(select(OAuthFlow)).all()) == flows_before
    answer = await start(token, asked.link.id)
    assert answer.status_code == 302
    params = await asyncio.to_thread(consent, answer.headers["location"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://localhost",
        cookies={"cx_session": token},
    ) as client:
        finished = await client.get("/oauth/callback", params=params)
    assert finished.status_code == 200 and "Connected" in finished.text
    assert _row(engine, asked.link.id).connection_id is not None
