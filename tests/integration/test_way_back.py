"""Where the 404 page's way back leads, and /sign-in for someone already signed in
(over the websocket and over HTTP), decided from the session (issue 11)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine

from connections_app.http.sign_in_redirect import SignedInRedirect, start_page
from connections_app.ui.states.not_found import NotFoundState
from connections_app.ui.states.sign_in import SignInState
from tests.conftest import World
from tests.integration.cli_env import use_database
from tests.integration.test_ui_handlers import Cookie, _sign_in, _state, as_browser

__all__ = ["as_browser"]  # the fixture, used by name below


async def test_the_404_page_leads_each_person_back_to_their_start(
    as_browser: type[Cookie], engine: Engine, world: World
) -> None:
    state = await _state(NotFoundState)
    await state.load()
    assert (state.back_href, state.back_label) == ("/sign-in", "Sign in")

    as_browser.value = "not-a-session"
    await state.load()
    assert state.back_href == "/sign-in"

    as_browser.value = _sign_in(engine, world.user_ids["admin1"])
    await state.load()
    assert (state.back_href, state.back_label) == ("/integrations", "Back to Integrations")

    as_browser.value = _sign_in(engine, world.user_ids["client1"])
    await state.load()
    assert (state.back_href, state.back_label) == (
        "/portal/connections",
        "Back to My connections",
    )


async def test_sign_in_sends_a_signed_in_person_home_and_shows_the_form_otherwise(
    as_browser: type[Cookie], engine: Engine, world: World
) -> None:
    state = await _state(SignInState)
    assert await state.load() is None  # signed out: the form

    as_browser.value = _sign_in(engine, world.user_ids["builder1"])
    redirect = await state.load()
    args = {name._js_expr: value._var_value for name, value in redirect.args}
    assert args["path"] == "/integrations" and args["replace"] is True  # the core's start page


async def _get(guard: SignedInRedirect, path: str, cookie: str | None, method: str = "GET"):  # type: ignore[no-untyped-def]
    """One request through the wrapper: (status, location) or 'inner' if it passed on."""
    headers = [(b"cookie", f"cx_session={cookie}".encode())] if cookie else []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    await guard(scope, receive, send)
    if not sent:
        return "inner"
    start = sent[0]
    return start["status"], dict(start["headers"]).get(b"location")


async def test_sign_in_and_home_pages_send_people_on_over_http(
    monkeypatch: pytest.MonkeyPatch, db_url: str, engine: Engine, world: World
) -> None:
    use_database(monkeypatch, db_url)

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        return None  # the frontend page would be served here

    guard = SignedInRedirect(inner, session_cookie="cx_session", start_page=start_page)
    client = _sign_in(engine, world.user_ids["client1"])
    assert await _get(guard, "/sign-in", client) == (303, b"/portal/connections")
    token = _sign_in(engine, world.user_ids["admin1"])
    assert await _get(guard, "/sign-in", token) == (303, b"/integrations")
    assert await _get(guard, "/sign-in/", token) == (303, b"/integrations")
    assert await _get(guard, "/sign-in", None) == "inner"
    assert await _get(guard, "/sign-in", "x" * 40) == "inner"  # no such session
    assert await _get(guard, "/sign-in", token, method="POST") == "inner"  # the form route
    assert await _get(guard, "/integrations", token) == "inner"
    # `/` too: where the sign-in form's 303 lands, so the redirect must not need a socket.
    assert await _get(guard, "/", client) == (303, b"/portal/connections")
    assert await _get(guard, "/", token) == (303, b"/integrations")
    assert await _get(guard, "/", None) == (303, b"/sign-in")
    assert await _get(guard, "/", "x" * 40) == (303, b"/sign-in")
