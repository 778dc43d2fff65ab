"""The session guard (the Reflex middleware that runs before every event, the hydrate
included) and the whole path from the websocket handshake to a stored state, driven
without a server: the edge guard's scope, Reflex's router data, the handlers, and
Reflex's own disk state manager."""

from __future__ import annotations

import asyncio
import os
import pickle
import secrets
import stat
from pathlib import Path
from typing import Any

import pytest
import reflex as rx
from reflex.istate.manager.disk import StateManagerDisk
from reflex.istate.manager.token import BaseStateToken
from sqlalchemy.engine import Engine
from sqlmodel import Session

from connections_app.core.identity import service as identity
from connections_app.core.vault import Vault
from connections_app.http.security import EdgeGuard
from connections_app.ui.session_guard import SessionGuard
from connections_app.ui.states.connection_details import DetailsState
from connections_app.ui.states.connections_list import ConnectionListState
from connections_app.ui.states.rows import ConnectionSummary
from connections_app.ui.states.session import SessionState
from connections_app.ui.worker import worker_start
from tests.conftest import World
from tests.integration.cli_env import use_database
from tests.integration.helpers import make_stripe
from tests.integration.test_ui_handlers import Cookie, _sign_in, _state, as_browser  # noqa: F401

LABEL = "First person's Stripe"


def _root(state: rx.State) -> rx.State:
    while state.parent_state is not None:
        state = state.parent_state
    return state


async def _loaded(engine: Engine, world: World, cookie: type[Cookie]) -> dict[str, Any]:
    label = f"{LABEL} {secrets.token_hex(3)}"
    with Session(engine, expire_on_commit=False) as db:
        view = make_stripe(db, world.actors["admin1"], label=label)
    cookie.value = _sign_in(engine, world.user_ids["admin1"])
    details = await _state(DetailsState)
    session = await details.get_state(SessionState)
    listing = await details.get_state(ConnectionListState)
    await session.load_session()
    await listing.load()
    await details.show(view.id)
    assert listing.rows and details.summary.label == label
    return {"root": _root(details), "session": session, "listing": listing, "details": details}


def _holds_nothing_of_the_first_person(s: dict[str, Any]) -> None:
    assert s["listing"].rows == [] and s["listing"].total == 0
    assert s["details"].summary == ConnectionSummary() and s["details"].open is False
    assert s["session"].user_name == "" and s["session"].workspaces == []
    assert LABEL.encode() not in pickle.dumps(s["root"])


async def test_a_hydrate_without_the_session_sends_nothing_of_the_previous_person(
    as_browser: type[Cookie],  # noqa: F811
    engine: Engine,
    world: World,
) -> None:
    s = await _loaded(engine, world, as_browser)
    guard = SessionGuard()
    await guard.preprocess(app=None, state=s["root"], event=None)
    assert s["listing"].rows, "the same person keeps the page"

    as_browser.value = None  # the tab's token, without its cookie (gone, or signed out)
    await guard.preprocess(app=None, state=s["root"], event=None)
    _holds_nothing_of_the_first_person(s)
    assert s["session"].owner_id == ""


async def test_another_persons_cookie_with_the_same_token_gets_empty_states(
    as_browser: type[Cookie],  # noqa: F811
    engine: Engine,
    world: World,
) -> None:
    s = await _loaded(engine, world, as_browser)
    as_browser.value = _sign_in(engine, world.user_ids["admin2"])
    await SessionGuard().preprocess(app=None, state=s["root"], event=None)
    _holds_nothing_of_the_first_person(s)
    assert s["session"].owner_id == world.user_ids["admin2"]  # the states are now theirs


async def test_an_ended_session_is_treated_as_none(
    as_browser: type[Cookie],  # noqa: F811
    engine: Engine,
    world: World,
) -> None:
    s = await _loaded(engine, world, as_browser)
    with Session(engine) as db:
        identity.end_session(db, as_browser.value)  # signed out elsewhere
    await SessionGuard().preprocess(app=None, state=s["root"], event=None)
    _holds_nothing_of_the_first_person(s)


# --- the whole path, no monkeypatching --------------------------------------------------


def _guarded_headers(token: str) -> dict[str, str]:
    """The handshake headers as Reflex stores them, after the edge guard."""
    seen: list[dict[str, Any]] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope)

    guard = EdgeGuard(
        inner,
        allowed_origins=["http://localhost:3000"],
        session_cookie="cx_session",
        ref_cookie=identity.ref_cookie_name("cx_session"),
        session_ref=identity.session_ref,
        policy=lambda: "",
    )
    scope = {
        "type": "websocket",
        "path": "/_event/",
        "headers": [
            (b"origin", b"http://localhost:3000"),
            (b"cookie", f"cx_session={token}; theme=dark".encode()),
        ],
    }
    asyncio.run(guard(scope, None, None))  # type: ignore[arg-type]
    return {k.decode(): v.decode() for k, v in seen[0]["headers"]}


@pytest.fixture
def private_umask() -> Any:
    previous = os.umask(0o022)
    os.umask(previous)
    yield
    os.umask(previous)


def test_handlers_work_from_the_reference_and_the_store_holds_no_cookie(
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    engine: Engine,
    vault: Vault,
    world: World,
    tmp_path: Path,
    private_umask: None,
) -> None:
    use_database(monkeypatch, db_url)
    token = _sign_in(engine, world.user_ids["admin1"])
    headers = _guarded_headers(token)
    assert token not in repr(headers)
    with Session(engine, expire_on_commit=False) as db:
        make_stripe(db, world.actors["admin1"], label=f"Stored Stripe {secrets.token_hex(3)}")
    states = tmp_path / "states"
    monkeypatch.setenv("REFLEX_STATES_WORKDIR", str(states))
    worker_start()  # what every backend worker does first (umask 077)

    async def scenario() -> bytes:
        root = rx.State(_reflex_internal_init=True)
        router_data = {"pathname": "/integrations", "headers": headers, "token": "tab"}
        root.router_data = root._update_router_vars(router_data, {})
        await SessionGuard().preprocess(app=None, state=root, event=None)
        session = await root.get_state(SessionState)
        listing = await root.get_state(ConnectionListState)
        await session.load_session()  # the actor, re-derived from the reference
        await listing.load()
        assert session.workspace_id == world.ws1
        assert any(r.label.startswith("Stored Stripe") for r in listing.rows)
        manager = StateManagerDisk(_write_debounce_seconds=0)
        await manager.set_state(BaseStateToken(ident="tab", cls=rx.State), root)
        await manager.close()
        return b"".join(p.read_bytes() for p in states.iterdir())

    stored = asyncio.run(scenario())
    assert b"Stored Stripe" in stored, "the states were written"
    assert token.encode() not in stored
    assert identity.session_ref(token).encode() in stored  # only the reference
    assert stat.S_IMODE(states.stat().st_mode) == 0o700
    files = list(states.iterdir())
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
