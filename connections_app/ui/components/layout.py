"""The signed-in frame: sidebar navigation, workspace switcher, account menu."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import reflex as rx

from connections_app.core.settings import get_settings
from connections_app.ui.components.badges import icon_tile
from connections_app.ui.components.native_form import fresh_token_per_document, new_session_form
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


def _brand() -> rx.Component:
    return rx.hstack(
        icon_tile("key-round", 32, solid=True),
        rx.text("Connections", size="4", weight="bold"),
        spacing="3",
        align="center",
    )


def sidebar() -> rx.Component:
    """Beside the page from the `md` breakpoint; below it, a drawer behind `#nav-toggle`
    (assets/layout.css places it, `_SHELL_SCRIPT` opens and closes it)."""
    return rx.vstack(
        rx.box(_brand(), padding_bottom="8px"),
        workspace_switcher(),
        rx.divider(margin_y="8px"),
        rx.cond(
            SessionState.role == "client",
            rx.vstack(
                _nav_item("My connections", "plug", "/portal/connections"),
                _nav_item("Workflows", "workflow", "/portal/workflows"),
                width="100%",
            ),
            rx.vstack(
                _nav_item("Integrations", "plug", "/integrations"),
                _nav_item("Builder", "workflow", "/builder"),
                _nav_item("Runs", "history", "/runs"),
                rx.cond(
                    SessionState.is_workspace_admin,
                    rx.vstack(
                        _nav_item("Clients", "users", "/clients"),
                        _nav_item("Audit log", "scroll-text", "/audit"),
                        spacing="1",
                        width="100%",
                    ),
                ),
                rx.cond(
                    SessionState.is_account_admin,
                    rx.vstack(
                        _nav_item("Account connections", "building-2", "/account/connections"),
                        _nav_item("LLM Keys", "sparkles", "/llm-keys"),
                        spacing="1",
                        width="100%",
                    ),
                ),
                rx.cond(
                    SessionState.is_account_admin,
                    rx.vstack(
                        _nav_item("OAuth apps", "key-round", "/oauth-apps"),
                        _nav_item("Workspaces", "layers", "/workspaces"),
                        spacing="1",
                        width="100%",
                    ),
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
            new_session_form(
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
            ),
            width="100%",
            align="center",
        ),
        width=SIDEBAR_WIDTH,
        min_width=SIDEBAR_WIDTH,
        padding="20px 16px",
        border_right="1px solid var(--gray-a5)",
        spacing="3",
        class_name="cx-sidebar",
        id="sidebar",
        custom_attrs={"data-open": "false"},
    )


_NAV_TOGGLE = {
    "type": "button",
    "id": "nav-toggle",
    "aria-label": "Menu",
    "aria-controls": "sidebar",
    "aria-expanded": "false",
}


def _top_bar() -> rx.Component:
    """Shown under the `md` breakpoint only: the menu button that opens the sidebar."""
    return rx.hstack(
        # Plain attributes: _SHELL_SCRIPT flips aria-expanded without a round trip.
        rx.el.button(
            rx.icon("menu", size=20), custom_attrs=_NAV_TOGGLE, class_name="cx-nav-toggle"
        ),
        _brand(),
        align="center",
        spacing="3",
        class_name="cx-topbar",
    )


def page_header(title: str, subtitle: str, *actions: rx.Component) -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.heading(title, size="6", weight="bold"),
            rx.text(subtitle, size="2", color_scheme="gray"),
            spacing="1",
            flex="1 1 260px",
        ),
        *actions,
        width="100%",
        align="end",
        justify="between",
        wrap="wrap",
        padding_bottom="16px",
    )


def empty_state(icon: str, title: str, body: str, *actions: rx.Component) -> rx.Component:
    return rx.center(
        rx.vstack(
            icon_tile(icon, 56),
            rx.heading(title, size="4", as_="h2"),
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


def _workspace_gone() -> rx.Component:
    """Shown the moment this tab's workspace is deleted (its read-models are already
    gone); mounting it sends the person on, the button in case that is slow."""
    return rx.callout(
        rx.vstack(
            rx.text("This workspace has been deleted. Taking you to one you still have…"),
            rx.button("Continue", on_click=SessionState.leave_workspace, size="1"),
            spacing="2",
        ),
        icon="trash-2",
        color_scheme="amber",
        role="status",
        id="workspace-gone",
        width="100%",
        on_mount=SessionState.leave_workspace,
    )


def app_shell(*children: rx.Component) -> rx.Component:
    """Wrap a page: nothing renders until the session guard has run."""
    return rx.box(
        _oauth_listener(),
        rx.script(_SHELL_SCRIPT),
        fresh_token_per_document(),
        sidebar(),
        rx.box(id="nav-backdrop", class_name="cx-backdrop", custom_attrs={"data-open": "false"}),
        rx.el.main(
            _top_bar(),
            rx.cond(
                SessionState.session_loaded,
                rx.cond(
                    SessionState.workspace_gone,
                    _workspace_gone(),
                    rx.vstack(
                        reauth_banner(), *children, width="100%", max_width="1200px", spacing="4"
                    ),
                ),
                rx.center(rx.spinner(size="3"), height="60vh"),
            ),
            id="app-main",
            class_name="cx-main",
        ),
        class_name="cx-shell",
    )


# The sidebar drawer under the breakpoint (menu button, Escape, backdrop, a followed
# link close it; focus goes into it on open and back to the button on Escape), and
# focus back on a dialog's opener: Radix returns focus only to a dialog's own
# trigger, and our dialogs are opened by state (menus, buttons, links), so when the
# last dialog goes and focus fell to <body>, the element focused before it gets it.
# Plain DOM: nothing here is a Reflex event, so it costs no round trip.
_SHELL_SCRIPT = """
(function () {
  if (window.cxShell) return;
  window.cxShell = true;
  var OVERLAY = '[role=dialog],[role=alertdialog],[role=menu],[data-radix-popper-content-wrapper]';
  var opener = null;
  function byId(id) { return document.getElementById(id); }
  function setNav(open, focusButton) {
    var side = byId('sidebar'), button = byId('nav-toggle'), shade = byId('nav-backdrop');
    if (!side || !button) return;
    var value = open ? 'true' : 'false';
    side.setAttribute('data-open', value);
    button.setAttribute('aria-expanded', value);
    if (shade) shade.setAttribute('data-open', value);
    if (open) {
      var first = side.querySelector('a[href], button, [tabindex="0"]');
      if (first) first.focus();
    } else if (focusButton) {
      button.focus();
    }
  }
  document.addEventListener('click', function (e) {
    var t = e.target;
    if (!(t instanceof Element)) return;
    if (t.closest('#nav-toggle')) {
      setNav(byId('nav-toggle').getAttribute('aria-expanded') !== 'true', false);
    } else if (t.closest('#nav-backdrop') || t.closest('#sidebar a[href]')) {
      setNav(false, false);
    }
  });
  document.addEventListener('keydown', function (e) {
    var button = byId('nav-toggle');
    if (e.key === 'Escape' && button && button.getAttribute('aria-expanded') === 'true') {
      setNav(false, true);
    }
  });
  function remember(t) {
    if (t instanceof Element && t !== document.body && !t.closest(OVERLAY)) opener = t;
  }
  document.addEventListener('focusin', function (e) { remember(e.target); });
  // Menu triggers keep focus off on pointer-down; the pressed control is the opener.
  document.addEventListener('pointerdown', function (e) {
    var t = e.target instanceof Element ? e.target.closest('button, a[href], [tabindex]') : null;
    if (t) remember(t);
  }, true);
  new MutationObserver(function () {
    var active = document.activeElement;
    if (opener && opener.isConnected && (!active || active === document.body)
        && !document.querySelector('[role=dialog],[role=alertdialog]')) {
      opener.focus();
    }
  }).observe(document.body, { childList: true, subtree: true });
})();
"""
