"""The connect-link handlers (F24) called as a hostile browser can: the admin tab, the
link page and the portal's requests. Only the signed-in person counts; a link of
another client, workspace or account, and every role but the right one, find nothing
and change nothing; the API key a client enters is never kept in state."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.connections import connect_links
from connections_app.core.connections.models import Connection, ConnectLink
from connections_app.core.identity import service as identity
from connections_app.core.tenancy.actor import Actor, Role
from connections_app.core.vault import Vault
from connections_app.ui.states.connect_link import ConnectLinkState
from connections_app.ui.states.connect_link_admin import ConnectLinkAdminState
from connections_app.ui.states.portal_requests import PortalRequestsState
from connections_app.ui.states.session import SessionState
from tests.conftest import PASSWORD, World
from tests.integration import test_ui_handlers
from tests.integration.dbdump import dump, leaks
from tests.integration.test_ui_handlers import Cookie, _everything, _sign_in, _state

as_browser = test_ui_handlers.as_browser  # the shared "browser" fixture

CANARY = "sk_live_" + "CanaryThroughLink4e8d2b"


@pytest.fixture(scope="module")
def more(engine: Engine, world: World) -> dict[str, str]:
    """A second client of workspace 1 and a client of workspace 2."""
    ids: dict[str, str] = {}
    with Session(engine, expire_on_commit=False) as db:
        for name, ws in (("client1b", world.ws1), ("client2", world.ws2)):
            email = f"{name}-h-{world.account_id[:6]}@example.test"
            user = identity.create_user(db, email=email, name=name.title(), password=PASSWORD)
            identity.add_member(db, workspace_id=ws, user_id=user.id, role=Role.CLIENT, by="t")
            ids[name] = user.id
    return {**world.user_ids, **ids}


def _ask(engine: Engine, world: World, *, client: str | None, app: str = "stripe") -> Any:
    with Session(engine, expire_on_commit=False) as db:
        return connect_links.request(
            db, world.actors["admin1"], app=app, label="Stripe via link", client_user_id=client
        )


def _links(engine: Engine) -> list[tuple]:
    with Session(engine) as db:
        return sorted(
            (r.id, r.used_at, r.revoked_at, r.connection_id)
            for r in db.exec(select(ConnectLink)).all()
        )


def _connections(engine: Engine) -> int:
    with Session(engine) as db:
        return len(db.exec(select(Connection)).all())


async def _open_link(monkeypatch: pytest.MonkeyPatch, reference: str) -> ConnectLinkState:
    monkeypatch.setattr(ConnectLinkState, "_reference", lambda self: reference)
    page = await _state(ConnectLinkState)
    session = await page.get_state(SessionState)
    await session.load_session()
    await page.load()
    return page


async def _submit(page: ConnectLinkState, form: dict) -> None:
    await ConnectLinkState.submit.fn(page, form)  # type: ignore[attr-defined]


async def test_an_admin_requests_a_link_shown_once_and_never_kept(
    as_browser: type[Cookie], engine: Engine, world: World, more: dict[str, str]
) -> None:
    as_browser.value = _sign_in(engine, world.user_ids["admin1"])
    tab = await _state(ConnectLinkAdminState)
    await tab.load()
    assert "stripe" in {a.value for a in tab.apps}
    assert {c.value for c in tab.clients} == {more["client1"], more["client1b"]}
    tab.open_request()
    events = await tab.submit_request(
        {"app": "stripe", "label": "Stripe (Acme)", "client": more["client1"], "expires_days": "7"}
    )
    assert tab.error == "" and tab.link_ready
    shown = str(events)
    assert "/connect/" in shown
    token = shown.split("/connect/")[1][:43]
    with Session(engine) as db:
        row = db.exec(
            select(ConnectLink).where(ConnectLink.token_hash == connect_links.token_hash(token))
        ).first()
    assert row is not None and row.client_user_id == more["client1"]
    assert token.encode() not in _everything(tab)
    await tab._on_workspace_change()  # what the workspace signal does in the app
    assert token.encode() not in _everything(tab)
    assert any(r.id == row.id and r.state == "Pending" for r in tab.links)
    # Revoke through the dialog.
    await tab.ask_revoke(row.id)
    assert tab.revoke_open
    await tab.confirm_revoke()
    await tab._on_workspace_change()
    assert next(r for r in tab.links if r.id == row.id).state == "Revoked"
    with Session(engine) as db:
        assert db.get(ConnectLink, row.id).revoked_at is not None  # type: ignore[union-attr]


@pytest.mark.parametrize("who", ["builder1", "viewer1", "client1", "admin2", "foreign_admin"])
async def test_other_roles_and_workspaces_cannot_request_list_or_revoke(
    as_browser: type[Cookie], engine: Engine, world: World, more: dict[str, str], who: str
) -> None:
    asked = _ask(engine, world, client=None)
    before_links, before = _links(engine), _connections(engine)
    as_browser.value = _sign_in(engine, world.user_ids[who])
    tab = await _state(ConnectLinkAdminState)
    await tab.load()
    assert asked.link.id not in {r.id for r in tab.links}
    assert more["client1"] not in {c.value for c in tab.clients}
    if who not in ("admin2", "foreign_admin"):  # admins of their own workspace see apps
        assert tab.links == [] and tab.apps == [] and tab.clients == []
    # Another workspace's client is not found; anyone but an admin is refused.
    await tab.submit_request({"app": "stripe", "label": "Sneaky", "client": more["client1"]})
    assert tab.error and not tab.link_ready
    await tab.ask_revoke(asked.link.id)  # not in this person's list
    assert not tab.revoke_open
    tab.revoke_id = asked.link.id  # even a state that somehow held it: the core decides
    await tab.confirm_revoke()
    assert _links(engine) == before_links and _connections(engine) == before


async def test_the_client_answers_a_form_link_and_the_key_is_never_kept(
    as_browser: type[Cookie],
    monkeypatch: pytest.MonkeyPatch,
    engine: Engine,
    world: World,
    more: dict[str, str],
    vault: Vault,
) -> None:
    asked = _ask(engine, world, client=more["client1"])
    as_browser.value = _sign_in(engine, more["client1"])
    page = await _open_link(monkeypatch, asked.token)
    assert page.problem == "" and page.link_id == asked.link.id
    assert (page.agency, page.workspace, page.app_name, page.method) == (
        "Agency",
        "Client One",
        "Stripe",
        "form",
    )
    assert [f.name for f in page.fields] == ["secret_key"]
    assert asked.token.encode() not in _everything(page)
    await _submit(page, {"secret_key": CANARY, "smuggled": "x"})
    assert page.error == "" and page.done_label.startswith("Stripe via link")
    assert CANARY.encode() not in _everything(page)
    assert leaks(dump(engine), CANARY) == []
    with Session(engine) as db:
        conn = db.exec(select(Connection).where(Connection.label == page.done_label)).one()
        assert conn.authorized_by == more["client1"] and conn.config == {}
    # The same link again, from the link or the portal's id: a clear page, nothing made.
    before = _connections(engine)
    again = await _open_link(monkeypatch, asked.token)
    assert again.problem_title == "This link was already used" and again.link_id == ""
    await _submit(again, {"secret_key": CANARY})
    assert _connections(engine) == before


@pytest.mark.parametrize(
    ("who", "title"),
    [
        ("client1b", "This link is not yours"),
        ("client2", "This link is not valid"),
        ("admin1", "This link is for a client"),
        ("builder1", "This link is for a client"),
        ("foreign_admin", "This link is not valid"),
    ],
)
async def test_a_link_opened_by_anyone_else_shows_a_clear_page(
    as_browser: type[Cookie],
    monkeypatch: pytest.MonkeyPatch,
    engine: Engine,
    world: World,
    more: dict[str, str],
    who: str,
    title: str,
) -> None:
    asked = _ask(engine, world, client=more["client1"])
    as_browser.value = _sign_in(engine, more[who])
    snapshot = dump(engine)
    for reference in (asked.token, asked.link.id):
        page = await _open_link(monkeypatch, reference)
        assert page.problem_title == title and page.link_id == "" and page.fields == []
        assert "Client One" not in page.problem
        await _submit(page, {"secret_key": CANARY})
    assert dump(engine) == snapshot


@pytest.mark.parametrize("reference", ["", "x", "A" * 43, "0" * 32, "../../etc/passwd", "x" * 5000])
async def test_forged_references_show_a_clear_page(
    as_browser: type[Cookie],
    monkeypatch: pytest.MonkeyPatch,
    engine: Engine,
    world: World,
    more: dict[str, str],
    reference: str,
) -> None:
    as_browser.value = _sign_in(engine, more["client1"])
    page = await _open_link(monkeypatch, reference)
    assert page.problem_title == "This link is not valid"


async def test_the_portal_lists_only_this_clients_pending_requests(
    as_browser: type[Cookie], engine: Engine, world: World, more: dict[str, str]
) -> None:
    mine = _ask(engine, world, client=more["client1"])
    theirs = _ask(engine, world, client=more["client1b"])
    as_browser.value = _sign_in(engine, more["client1"])
    portal = await _state(PortalRequestsState)
    await portal.load()
    ids = {r.id for r in portal.requests}
    assert mine.link.id in ids and theirs.link.id not in ids
    row = next(r for r in portal.requests if r.id == mine.link.id)
    assert row.text == "Agency asks you to connect Stripe" and row.href == f"/connect/{row.id}"
    for who in ("admin1", "builder1", "client2", "foreign_admin"):
        as_browser.value = _sign_in(engine, more[who])
        portal = await _state(PortalRequestsState)
        await portal.load()
        assert portal.requests == [], who


def test_clients_may_open_connect_pages_and_their_portal_only() -> None:
    client = Actor("u", "c@x", "a", "w", Role.CLIENT)
    admin = Actor("v", "a@x", "a", "w", Role.ADMIN)
    assert identity.may_open(client, "/connect/abc") and identity.may_open(client, "/portal")
    assert not identity.may_open(client, "/integrations")
    assert not identity.may_open(client, "/connectx") and not identity.may_open(client, "/clients")
    assert identity.may_open(admin, "/integrations") and identity.may_open(admin, "/connect/x")
