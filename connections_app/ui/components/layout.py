"""The signed-in frame: sidebar navigation, workspace switcher, account menu."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import reflex as rx

from connections_app.core.settings import get_settings
from connections_app.ui.components.native_form import native_form
from connections_app.ui.components.reauth_banner import reauth_banner
from connections_app.ui.components.urls import backend_url
from connections_app.ui.states.oauth_connect import OAuthConnectState
from connections_app.ui.states.session import SessionState

SIDEBAR_WIDTH = "248px"


def _nav_item(label: str, icon: str, href: str) -> rx.Component:
    return rx.link(
        rx.hstack(rx.icon(icon, size=16), rx.text(label, size="2", weight="medium"), spacing="3"),
        href=href,
        underline="none",
        color_scheme="gray",
        high_contrast=True,
        padding_x="12px",
        padding_y="8px",
        border_radius="8px",
        width="100%",
        _hover={"background": "var(--gray-a3)"},
        id=f"nav-{href.strip('/').replace('/', '-') or 'home'}",
    )


def workspace_switcher() -> rx.Component:
    return rx.vstack(
        rx.text(
            SessionState.account_name,
            size="1",
            color_scheme="gray",
            weight="medium",
            id="account-name",
        ),
        rx.select.root(
            rx.select.trigger(
                placeholder="Choose a workspace", width="100%", id="workspace-switcher"
            ),
            rx.select.content(
                rx.foreach(
                    SessionState.workspaces,
                    lambda ws: rx.select.item(ws["label"], value=ws["value"]),
                ),
            ),
            value=SessionState.workspace_id,
            on_change=SessionState.switch_workspace,
            size="2",
        ),
        spacing="1",
        width="100%",
    )


def sidebar() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.center(
                rx.icon("key-round", size=18, color="white"),
                background="var(--accent-9)",
                width="32px",
                height="32px",
                border_radius="8px",
            ),
            rx.heading("Connections", size="4", weight="bold"),
            spacing="3",
            align="center",
            padding_bottom="8px",
        ),
        workspace_switcher(),
        rx.divider(margin_y="8px"),
        rx.cond(
            SessionState.role == "client",
            rx.vstack(_nav_item("My connections", "plug", "/portal/connections"), width="100%"),
            rx.vstack(
                _nav_item("Integrations", "plug", "/integrations"),
                _nav_item("Builder", "workflow", "/builder"),
                _nav_item("Runs", "history", "/runs"),
                rx.cond(
                    SessionState.is_workspace_admin,
                    _nav_item("Audit log", "scroll-text", "/audit"),
                ),
                rx.cond(
                    SessionState.is_account_admin,
                    _nav_item("LLM Keys", "sparkles", "/llm-keys"),
                ),
                spacing="1",
                width="100%",
            ),
        ),
        rx.spacer(),
        rx.divider(),
        rx.hstack(
            rx.avatar(fallback=SessionState.initials, size="2", radius="full"),
            rx.vstack(
                rx.text(SessionState.user_name, size="2", weight="medium", trim="both"),
                rx.text(SessionState.role_label, size="1", color_scheme="gray"),
                spacing="0",
            ),
            rx.spacer(),
            native_form(
                rx.tooltip(
                    rx.icon_button(
                        rx.icon("log-out", size=16),
                        variant="ghost",
                        color_scheme="gray",
                        type="submit",
                        id="sign-out",
                        aria_label="Sign out",
                    ),
                    content="Sign out",
                ),
                action=backend_url("/auth/sign-out"),
                method="post",
            ),
            width="100%",
            align="center",
        ),
        width=SIDEBAR_WIDTH,
        min_width=SIDEBAR_WIDTH,
        height="100vh",
        position="sticky",
        top="0",
        padding="20px 16px",
        border_right="1px solid var(--gray-a5)",
        background="var(--gray-a2)",
        spacing="3",
    )


def page_header(title: str, subtitle: str, *actions: rx.Component) -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.heading(title, size="6", weight="bold"),
            rx.text(subtitle, size="2", color_scheme="gray"),
            spacing="1",
        ),
        rx.spacer(),
        *actions,
        width="100%",
        align="end",
        padding_bottom="16px",
    )


def empty_state(icon: str, title: str, body: str, *actions: rx.Component) -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.center(
                rx.icon(icon, size=28, color="var(--accent-11)"),
                background="var(--accent-a3)",
                width="56px",
                height="56px",
                border_radius="14px",
            ),
            rx.heading(title, size="4"),
            rx.text(body, size="2", color_scheme="gray", text_align="center", max_width="420px"),
            *actions,
            align="center",
            spacing="3",
        ),
        padding="64px 24px",
        border="1px dashed var(--gray-a6)",
        border_radius="12px",
        width="100%",
    )


def _oauth_listener() -> rx.Component:
    """Hear the OAuth popup (from our own origins only) and let the server say what happened."""
    origins = json.dumps(sorted({_origin(get_settings().app_url), _origin(get_settings().api_url)}))
    # Every page's shell renders this script; the flag keeps it to one listener per
    # window however often the client-side router mounts a page (one toast per event).
    script = (
        "if (!window.__cxOAuthListener) { window.__cxOAuthListener = true;"
        "window.addEventListener('message', function (e) {"
        f"  if ({origins}.indexOf(e.origin) < 0) return;"
        "  if (!e.data || e.data.type !== 'connections:oauth') return;"
        "  var b = document.getElementById('cx-oauth-done'); if (b) b.click();"
        "}); }"
    )
    return rx.fragment(
        rx.script(script),
        rx.el.button(
            "OAuth finished",
            id="cx-oauth-done",
            type="button",
            on_click=OAuthConnectState.finished,
            tab_index=-1,
            aria_hidden="true",
            style={"display": "none"},
        ),
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def app_shell(*children: rx.Component) -> rx.Component:
    """Wrap a page: nothing renders until the session guard has run."""
    return rx.hstack(
        _oauth_listener(),
        sidebar(),
        rx.box(
            rx.cond(
                SessionState.session_loaded,
                rx.vstack(
                    reauth_banner(), *children, width="100%", max_width="1200px", spacing="4"
                ),
                rx.center(rx.spinner(size="3"), height="60vh"),
            ),
            flex="1",
            padding="32px 40px",
            min_height="100vh",
        ),
        spacing="0",
        align="start",
        width="100%",
    )
