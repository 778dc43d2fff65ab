"""Builds the Reflex app: pages, HTTP routes, logging, and the master-key check at start-up."""

from __future__ import annotations

import os
from pathlib import Path

import reflex as rx
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette

import connections_app.core.workflows.service  # noqa: F401  (registers the usage finder, F19)
from connections_app.core.db import get_engine
from connections_app.core.logging_setup import configure_logging
from connections_app.core.migrations import SchemaNotCurrent, ensure_current
from connections_app.core.settings import get_settings
from connections_app.core.vault import VaultError, get_vault
from connections_app.http.auth_routes import routes as auth_routes
from connections_app.http.oauth_routes import routes as oauth_routes
from connections_app.ui.background import alert_bridge, refresher
from connections_app.ui.pages.audit_log import audit_log_page
from connections_app.ui.pages.builder import builder_page
from connections_app.ui.pages.runs import runs_page
from connections_app.ui.pages.sign_in import sign_in_page
from connections_app.ui.pages.workspace_pages import (
    integrations_page,
    llm_keys_page,
    portal_page,
)
from connections_app.ui.states.audit_log import AuditLogState
from connections_app.ui.states.builder import BuilderState
from connections_app.ui.states.connections_list import (
    AccountKeysState,
    ConnectionListState,
    PortalState,
)
from connections_app.ui.states.runs import RunsState
from connections_app.ui.states.session import SessionState
from connections_app.ui.states.sign_in import SignInState


def _private_state_dir() -> None:
    """Reflex pickles session read-models and handshake headers (the Cookie header
    included) into `.states/`: keep that directory private to the app's user."""
    states = Path.cwd() / ".states"
    states.mkdir(mode=0o700, exist_ok=True)
    os.chmod(states, 0o700)


def _preflight() -> None:
    """Refuse to start on an unmigrated database or a wrong master key, before serving."""
    _private_state_dir()
    try:
        ensure_current(get_engine())
        get_vault()
    except (SchemaNotCurrent, VaultError) as err:
        raise SystemExit(f"connections: refusing to start: {err}") from None
    except OperationalError as err:
        raise SystemExit(
            f"connections: refusing to start: database unavailable ({type(err.orig).__name__})"
        ) from None


configure_logging(get_settings().log_level)
_preflight()


def index() -> rx.Component:
    return rx.center(rx.spinner(size="3"), height="100vh")


app = rx.App(
    api_transformer=Starlette(routes=[*auth_routes, *oauth_routes]),
    head_components=[rx.el.link(rel="icon", href="/favicon.svg", type="image/svg+xml")],
)
app.register_lifespan_task(alert_bridge(app))
app.register_lifespan_task(refresher)
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
    audit_log_page,
    route="/audit",
    title="Audit log · Connections",
    on_load=[SessionState.load_session, AuditLogState.load],
)
app.add_page(
    builder_page,
    route="/builder",
    title="Builder · Connections",
    on_load=[SessionState.load_session, BuilderState.load],
)
app.add_page(
    runs_page,
    route="/runs",
    title="Runs · Connections",
    on_load=[SessionState.load_session, RunsState.load],
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
