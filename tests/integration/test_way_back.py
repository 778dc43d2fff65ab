"""Where the 404 page's way back leads, and /sign-in for someone already signed in,
decided from the session the socket carries (issue 11)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from connections_app.ui.states.not_found import NotFoundState
from connections_app.ui.states.sign_in import SignInState
from tests.conftest import World
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
    assert args["path"] == "/" and args["replace"] is True  # `/` picks the start page
