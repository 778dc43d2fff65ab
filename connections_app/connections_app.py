"""Builds the Reflex app: pages, HTTP routes, the edge guard and session guard, logging,
and the master-key check at start-up."""

from __future__ import annotations

from connections_app.ui.reflex_logging import install_logging

# Before anything else is imported: what the imports below log or warn becomes a JSON
# record too (in `reflex run`'s dev mode every backend worker imports this module).
install_logging()

import os
from collections.abc import Callable
from typing import Any

import reflex as rx
from reflex.utils import prerequisites
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette

from connections_app.core import egress
from connections_app.core.db import get_engine
from connections_app.core.identity import service as identity
from connections_app.core.migrations import SchemaNotCurrent, ensure_current
from connections_app.core.settings import get_settings
from connections_app.core.vault import VaultError, get_vault
from connections_app.http.auth_routes import routes as auth_routes
from connections_app.http.health_routes import routes as health_routes
from connections_app.http.invite_routes import routes as invite_routes
from connections_app.http.oauth_routes import routes as oauth_routes
from connections_app.http.origin import allowed_origins
from connections_app.http.outage import outage_guard
from connections_app.http.security import (
    ASGIApp,
    EdgeGuard,
    content_security_policy,
    inline_scripts,
    script_hash,
)
from connections_app.http.sign_in_redirect import SignedInRedirect, start_page
from connections_app.ui.background import alert_bridge, refresher
from connections_app.ui.page_scripts import built_html_pages, component_scripts
from connections_app.ui.pages.account_pages import account_connections_page, llm_keys_page
from connections_app.ui.pages.audit_log import audit_log_page
from connections_app.ui.pages.builder import builder_page
from connections_app.ui.pages.clients import clients_page
from connections_app.ui.pages.connect_link import connect_link_page
from connections_app.ui.pages.not_found import not_found_page
from connections_app.ui.pages.oauth_apps import oauth_apps_page
from connections_app.ui.pages.portal import portal_page
from connections_app.ui.pages.portal_workflows import portal_workflows_page
from connections_app.ui.pages.runs import runs_page
from connections_app.ui.pages.sign_in import sign_in_page
from connections_app.ui.pages.workspace_pages import integrations_page
from connections_app.ui.pages.workspaces import workspaces_page
from connections_app.ui.reflex_logging import (
    backend_exception_handler,
    frontend_exception_handler,
)
from connections_app.ui.session_guard import SessionGuard
from connections_app.ui.states.account_connections import AccountConnectionsState, LlmKeysState
from connections_app.ui.states.audit_log import AuditLogState
from connections_app.ui.states.builder import BuilderState
from connections_app.ui.states.client_people import ClientPeopleState
from connections_app.ui.states.connect_link import ConnectLinkState
from connections_app.ui.states.connect_link_admin import ConnectLinkAdminState
from connections_app.ui.states.connections_list import ConnectionListState
from connections_app.ui.states.not_found import NotFoundState
from connections_app.ui.states.oauth_apps import OAuthAppsState
from connections_app.ui.states.portal import PortalActivityState, PortalState
from connections_app.ui.states.portal_requests import PortalRequestsState
from connections_app.ui.states.runs import RunsState
from connections_app.ui.states.session import SessionState
from connections_app.ui.states.sign_in import SignInState
from connections_app.ui.states.workspaces import WorkspacesState
from connections_app.ui.worker import worker_start


def _private_state_dir() -> None:
    """Reflex pickles read-models and the handshake headers (with a session reference,
    never the cookie: see http/security.py) into `.states/`: private to the app's user."""
    states = prerequisites.get_states_dir().absolute()
    states.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(states, 0o700)


def _preflight() -> None:
    """Refuse to start on an unmigrated database or a wrong master key, before serving."""
    _private_state_dir()
    try:
        ensure_current(get_engine())
        get_vault()
        egress.policy()  # an unreadable CONNECTIONS_EGRESS_* entry stops the start
    except (SchemaNotCurrent, VaultError, egress.EgressConfigError) as err:
        raise SystemExit(f"connections: refusing to start: {err}") from None
    except OperationalError as err:
        raise SystemExit(
            f"connections: refusing to start: database unavailable ({type(err.orig).__name__})"
        ) from None


def _forget_inherited_connections() -> None:
    """A backend worker forked from the process that ran the preflight must not use the
    parent's pooled database connections: two processes on one socket garble the
    protocol (PostgreSQL answered the workers' first queries with ProgrammingError and
    OperationalError). The child drops them unclosed, the parent keeps its own."""
    get_engine().dispose(close=False)


_preflight()
os.register_at_fork(after_in_child=_forget_inherited_connections)


def index() -> rx.Component:
    return rx.center(rx.spinner(size="3"), height="100vh")


_SESSION = SessionState.load_session
# (page, route, title, on_load)
PAGES: list[tuple[Callable[[], rx.Component], str, str, Any]] = [
    (index, "/", "Connections", SessionState.load_session_home),
    (sign_in_page, "/sign-in", "Sign in · Connections", SignInState.load),
    (
        integrations_page,
        "/integrations",
        "Integrations · Connections",
        [_SESSION, ConnectionListState.load],
    ),
    (
        clients_page,
        "/clients",
        "Clients · Connections",
        [_SESSION, ClientPeopleState.load, ConnectLinkAdminState.load],
    ),
    (
        connect_link_page,
        "/connect/[token]",
        "Connect an app · Connections",
        [_SESSION, ConnectLinkState.load],
    ),
    (audit_log_page, "/audit", "Audit log · Connections", [_SESSION, AuditLogState.load]),
    (builder_page, "/builder", "Builder · Connections", [_SESSION, BuilderState.load]),
    (runs_page, "/runs", "Runs · Connections", [_SESSION, RunsState.load]),
    (llm_keys_page, "/llm-keys", "LLM Keys · Connections", [_SESSION, LlmKeysState.load]),
    (
        account_connections_page,
        "/account/connections",
        "Account connections · Connections",
        [_SESSION, AccountConnectionsState.load],
    ),
    (oauth_apps_page, "/oauth-apps", "OAuth apps · Connections", [_SESSION, OAuthAppsState.load]),
    (workspaces_page, "/workspaces", "Workspaces · Connections", [_SESSION, WorkspacesState.load]),
    (
        portal_page,
        "/portal/connections",
        "My connections · Connections",
        [_SESSION, PortalState.load, PortalActivityState.load, PortalRequestsState.load],
    ),
    (
        portal_workflows_page,
        "/portal/workflows",
        "Workflows · Connections",
        [_SESSION, BuilderState.load],
    ),
    (not_found_page, "404", "Page not found · Connections", NotFoundState.load),
]


def _content_security_policy() -> str:
    """Allow exactly the inline scripts of this build and of the page components."""
    settings = get_settings()
    scripts = [s for page in built_html_pages() for s in inline_scripts(page.read_text())]
    scripts += component_scripts(page for page, *_ in PAGES)
    return content_security_policy(
        origins=[settings.app_url, settings.api_url],
        script_hashes=[script_hash(s) for s in scripts],
    )


def _edge_guard(asgi_app: ASGIApp) -> ASGIApp:
    settings = get_settings()
    return EdgeGuard(
        asgi_app,
        allowed_origins=allowed_origins(),
        session_cookie=settings.session_cookie_name,
        ref_cookie=identity.ref_cookie_name(settings.session_cookie_name),
        session_ref=identity.session_ref,
        policy=_content_security_policy,
        https=settings.cookie_secure,
    )


def _signed_in_redirect(asgi_app: ASGIApp) -> ASGIApp:
    return SignedInRedirect(
        asgi_app,
        session_cookie=get_settings().session_cookie_name,
        start_page=start_page,
    )


app = rx.App(
    # A list: our routes (matched before Reflex's), /sign-in for the signed-in, then
    # the edge guard around it all.
    api_transformer=[
        Starlette(routes=[*health_routes, *auth_routes, *oauth_routes, *invite_routes]),
        _signed_in_redirect,
        _edge_guard,
        outage_guard,  # outermost: a database outage answers 503, not a trace
    ],
    head_components=[rx.el.link(rel="icon", href="/favicon.svg", type="image/svg+xml")],
    stylesheets=["/layout.css"],  # the responsive frame (ui/components/layout.py)
    frontend_exception_handler=frontend_exception_handler,
    backend_exception_handler=backend_exception_handler,
)
app.add_middleware(SessionGuard(), index=0)
app.register_lifespan_task(worker_start)
app.register_lifespan_task(alert_bridge(app))
app.register_lifespan_task(refresher)
for _page, _route, _title, _on_load in PAGES:
    app.add_page(_page, route=_route, title=_title, on_load=_on_load)
