"""Builds the Reflex app: pages, HTTP routes, logging, and the master-key check at start-up."""

from __future__ import annotations

import reflex as rx
from starlette.applications import Starlette

from connections_app.core.logging_setup import configure_logging
from connections_app.core.settings import get_settings
from connections_app.core.vault import get_vault
from connections_app.http.auth_routes import routes
from connections_app.ui.pages.sign_in import sign_in_page
from connections_app.ui.pages.workspace_pages import (
    builder_page,
    integrations_page,
    llm_keys_page,
    portal_page,
)
from connections_app.ui.states.connections_list import (
    AccountKeysState,
    ConnectionListState,
    PortalState,
)
from connections_app.ui.states.session import SessionState
from connections_app.ui.states.sign_in import SignInState

configure_logging(get_settings().log_level)
# Refuse to start with a wrong or missing master key, before serving anything.
get_vault()


def index() -> rx.Component:
    return rx.center(rx.spinner(size="3"), height="100vh")


app = rx.App(
    theme=rx.theme(accent_color="indigo", gray_color="slate", radius="medium", scaling="100%"),
    api_transformer=Starlette(routes=routes),
    head_components=[rx.el.link(rel="icon", href="/favicon.svg", type="image/svg+xml")],
)
app.add_page(index, route="/", title="Connections", on_load=SessionState.load_session_home)
app.add_page(
    sign_in_page, route="/sign-in", title="Sign in · Connections", on_load=SignInState.load
)
app.add_page(
    integrations_page,
    route="/integrations",
    title="Integrations · Connections",
    on_load=[SessionState.load_session, ConnectionListState.load],
)
app.add_page(
    builder_page, route="/builder", title="Builder · Connections", on_load=SessionState.load_session
)
app.add_page(
    llm_keys_page,
    route="/llm-keys",
    title="LLM Keys · Connections",
    on_load=[SessionState.load_session, AccountKeysState.load],
)
app.add_page(
    portal_page,
    route="/portal/connections",
    title="My connections · Connections",
    on_load=[SessionState.load_session, PortalState.load],
)
