"""Reflex handlers called the way a hostile browser can call them: any handler, any
argument shape, with or without a session. The actor always comes from the session
cookie; state never ends up holding anything secret."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Iterator

import pytest
import reflex as rx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.audit import Action, AuditEvent
from connections_app.core.connections import service as connections
from connections_app.core.identity import service as identity
from connections_app.core.identity.models import User
from connections_app.core.vault import Vault
from connections_app.ui.states.add_connection import AddConnectionState
from connections_app.ui.states.audit_log import AuditLogState
from connections_app.ui.states.builder import BuilderState
from connections_app.ui.states.connection_details import (
    DeleteState,
    DetailsState,
    EditState,
    RotateState,
)
from connections_app.ui.states.connections_list import ConnectionListState
from connections_app.ui.states.core_call import call_as
from connections_app.ui.states.oauth_connect import OAuthConnectState
from connections_app.ui.states.portal import PortalState
from connections_app.ui.states.rows import ConnectionSummary
from connections_app.ui.states.session import SessionState
from tests.conftest import World
from tests.integration.cli_env import use_database
from tests.integration.helpers import make_stripe
from tests.integration.oauth_helpers import connect, register_clients, session_for
from tests.standin_fixtures import StandIn

CANARY = "sk_live_CanaryHandlerSecret7f3a9c"


class Cookie:
    """Which session token the 'browser' presents (None: signed out)."""

    value: str | None = None


@pytest.fixture
def as_browser(
    monkeypatch: pytest.MonkeyPatch, db_url: str, engine: Engine, vault: Vault
) -> Iterator[type[Cookie]]:
    """Handlers see what the edge guard hands the websocket: the session's reference,
    never the token (`tests/integration/test_edge_guard.py` drives the guard itself)."""
    use_database(monkeypatch, db_url)
    Cookie.value = None
    monkeypatch.setattr(
        SessionState, "_session_ref", lambda self: identity.session_ref(Cookie.value)
    )
    yield Cookie
    Cookie.value = None


def _sign_in(engine: Engine, user_id: str) -> str:
    with Session(engine, expire_on_commit=False) as db:
        user = db.get(User, user_id)
        assert user is not None
        return identity.start_session(db, user=user, ttl_hours=1)


async def _state(cls: type[rx.State]) -> rx.State:
    root = rx.State(_reflex_internal_init=True)
    return await root.get_state(cls)


async def signed_in_state(engine: Engine, cookie: type[Cookie], user_id: str, cls: type[rx.State]):  # type: ignore[no-untyped-def]
    """A page state of a tab that signed in as this person and ran the page guard."""
    cookie.value = _sign_in(engine, user_id)
    state = await _state(cls)
    await (await state.get_state(SessionState)).load_session()
    return state


def _everything(state: rx.State) -> bytes:
    """What the state manager would store: the pickled root with all substates."""
    root = state
    while root.parent_state is not None:
        root = root.parent_state
    return pickle.dumps(root)


async def test_signed_out_handlers_redirect_and_load_nothing(
    as_browser: type[Cookie], engine: Engine, world: World
) -> None:
    with Session(engine, expire_on_commit=False) as db:
        make_stripe(db, world.actors["admin1"], key=CANARY)
    state = await _state(ConnectionListState)
    result = await state.load()
    assert result is not None  # a redirect to sign-in
    assert state.rows == [] and state.total == 0
    assert state.session_loaded is False


async def test_rows_are_masked_and_the_pickle_holds_no_secret(
    as_browser: type[Cookie], engine: Engine, world: World
) -> None:
    with Session(engine, expire_on_commit=False) as db:
        make_stripe(db, world.actors["admin1"], key=CANARY, label="Canary Stripe")
    as_browser.value = _sign_in(engine, world.user_ids["admin1"])
    state = await _state(ConnectionListState)
    session = await state.get_state(SessionState)
    await session.load_session()
    await state.load()
    assert session.workspace_id == world.ws1
    assert any(r.label == "Canary Stripe" for r in state.rows)
    stored = _everything(state)
    assert CANARY.encode() not in stored
    assert CANARY[-4:] in str(state.rows)  # the masked tail only
    assert as_browser.value.encode() not in stored  # nor the session token


@pytest.mark.parametrize(
    "hostile",
    [None, 42, ["x"], {"$ne": ""}, "' OR 1=1 --", "x" * 10_000, "../../etc/passwd"],
)
async def test_switch_workspace_rejects_anything_but_a_visible_workspace(
    as_browser: type[Cookie], engine: Engine, world: World, hostile: object
) -> None:
    as_browser.value = _sign_in(engine, world.user_ids["builder1"])
    session = await _state(SessionState)
    await session.load_session()
    await session.switch_workspace(hostile)
    await session.load_session()
    assert session.workspace_id == world.ws1


async def test_switch_to_another_accounts_workspace_is_not_found(
    as_browser: type[Cookie], engine: Engine, world: World
) -> None:
    as_browser.value = _sign_in(engine, world.user_ids["admin1"])
    session = await _state(SessionState)
    await session.load_session()
    for target in (world.other_ws, world.ws2):  # foreign account; not a member of ws2
        await session.switch_workspace(target)
        await session.load_session()
        assert session.workspace_id == world.ws1


async def test_search_and_paging_take_only_sane_values(
    as_browser: type[Cookie], engine: Engine, world: World
) -> None:
    as_browser.value = _sign_in(engine, world.user_ids["admin1"])
    state = await _state(ConnectionListState)
    await state.load()
    for hostile in (None, 7, ["a"], {"q": 1}):
        await state.search_changed(hostile)
        assert state.search == ""
    await state.search_changed("s" * 5000)
    assert len(state.search) <= 100
    for _ in range(3):
        await state.previous_page()
    assert state.page == 1


async def test_setvar_cannot_write_fields(as_browser: type[Cookie], world: World) -> None:
    """With auto setters off, the built-in `setvar` handler has nothing to call."""
    state = await _state(ConnectionListState)
    with pytest.raises(AttributeError):
        state.setvar("role", "admin")


async def test_client_portal_lists_only_what_the_client_authorized(
    as_browser: type[Cookie], engine: Engine, world: World
) -> None:
    with Session(engine, expire_on_commit=False) as db:
        make_stripe(db, world.actors["admin1"], label="Admin made this")
    as_browser.value = _sign_in(engine, world.user_ids["client1"])
    state = await _state(PortalState)
    await state.load()
    assert all(r.label != "Admin made this" for r in state.rows)


async def test_the_next_person_in_the_same_tab_inherits_no_read_models(
    as_browser: type[Cookie], engine: Engine, world: World
) -> None:
    """Same browser tab (same Reflex client token), another person signs in: nothing
    the first person loaded survives into the second person's state."""
    with Session(engine, expire_on_commit=False) as db:
        view = make_stripe(db, world.actors["admin1"], label="First person's Stripe")
    as_browser.value = _sign_in(engine, world.user_ids["admin1"])
    details = await _state(DetailsState)
    session = await details.get_state(SessionState)
    listing = await details.get_state(ConnectionListState)
    await session.load_session()
    await listing.load()
    await details.show(view.id)
    assert details.summary.label == "First person's Stripe"
    assert listing.rows

    as_browser.value = _sign_in(engine, world.user_ids["admin2"])  # another workspace
    await session.load_session()
    assert details.summary == ConnectionSummary() and details.open is False
    assert listing.rows == [] and listing.total == 0
    assert "First person" not in pickle.dumps(session).decode("latin-1")


async def test_the_browser_gets_one_page_of_rows_at_most(
    as_browser: type[Cookie], engine: Engine, world: World
) -> None:
    with Session(engine, expire_on_commit=False) as db:
        for n in range(30):
            make_stripe(db, world.actors["admin2"], label=f"Paged {n:02d}")
    as_browser.value = _sign_in(engine, world.user_ids["admin2"])
    state = await _state(ConnectionListState)
    await state.search_changed("Paged")
    assert state.total == 30 and len(state.rows) == 25
    await state.next_page()
    assert len(state.rows) == 5 and state.page == 2
    await state.filter_changed("app", "not-an-app")  # ignored, not an error
    assert state.app_filter == "all"
    await state.filter_changed("kind", "api_key")
    assert state.total == 30 and state.page == 1


def _refusals(engine: Engine, user_id: str) -> list[AuditEvent]:
    with Session(engine) as db:
        return list(
            db.exec(
                select(AuditEvent).where(
                    AuditEvent.action == Action.ACCESS_DENIED, AuditEvent.actor_id == user_id
                )
            ).all()
        )


async def test_every_refused_handler_call_leaves_an_access_denied_event(
    as_browser: type[Cookie], engine: Engine, world: World
) -> None:
    """The review found one `access_denied` event for a viewer's 119 refused calls."""
    with Session(engine, expire_on_commit=False) as db:
        conn = make_stripe(db, world.actors["admin1"], label="Viewer sees it")
    viewer = world.user_ids["viewer1"]
    as_browser.value = _sign_in(engine, viewer)
    before = len(_refusals(engine, viewer))
    add = await _state(AddConnectionState)
    edit = await _state(EditState)
    rotate = await _state(RotateState)
    delete = await _state(DeleteState)
    revoke = await _state(OAuthConnectState)
    builder = await _state(BuilderState)
    log = await _state(AuditLogState)
    refused = [
        lambda: add.open_dialog(),
        lambda: edit.show(conn.id),
        lambda: rotate.show(conn.id),
        lambda: delete.show(conn.id),
        lambda: revoke.ask_revoke(conn.id),
        lambda: builder.create({"name": "Not for viewers"}),
        lambda: log.load(),
        # Test runs as a background event (not callable directly): the same core call.
        lambda: asyncio.to_thread(
            call_as,
            identity.session_ref(as_browser.value),
            lambda db, actor: connections.test(db, actor=actor, connection_id=conn.id),
        ),
    ]
    for call in refused:
        await call()
    events = _refusals(engine, viewer)[before:]
    assert len(events) == len(refused), [e.detail.get("what") for e in events]
    assert all(e.outcome == "denied" and e.workspace_id == world.ws1 for e in events)
    assert add.open is False and edit.open is False and rotate.open is False


async def test_an_account_admin_is_labelled_as_one(
    as_browser: type[Cookie], engine: Engine, world: World
) -> None:
    as_browser.value = _sign_in(engine, world.user_ids["acct_admin"])
    session = await _state(SessionState)
    await session.load_session()
    assert session.is_account_admin and session.role_label == "Account admin"
    as_browser.value = _sign_in(engine, world.user_ids["admin1"])
    await session.load_session()
    assert session.role_label == "Workspace admin"


async def test_an_oauth_outcome_is_toasted_once_per_tab(
    as_browser: type[Cookie], engine: Engine, vault: Vault, world: World, standin: StandIn
) -> None:
    """The popup's message may reach `finished` more than once (a listener per mounted
    page, a re-sent message): the tab reports each flow's outcome once."""
    register_clients(engine, vault, ("slack",))
    as_browser.value = session_for(engine, world.user_ids["admin1"])
    outcome = connect(engine, vault, as_browser.value, account="once-per-tab")
    assert outcome.ok
    tab, other_tab = await _state(OAuthConnectState), await _state(OAuthConnectState)
    first = await tab.finished()
    assert first is not None and "Connected" in str(first)
    assert await tab.finished() is None  # the same flow again: no second toast
    assert await other_tab.finished() is not None  # another tab is told once too
    again = connect(engine, vault, as_browser.value, account="once-per-tab-2")
    assert again.ok and await tab.finished() is not None  # a new flow is news again
