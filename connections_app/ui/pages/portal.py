"""The client portal (F24, `/portal/connections`): what this client authorized, the
workflows using each (names only), Reconnect / Rotate / Revoke as the core allows, the
agency's pending requests, and the client's own activity.

Cards, not a table: a client often opens this on a phone (390 px), and each card keeps
its actions next to what they act on.
"""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.badges import kind_text, status_badge
from connections_app.ui.components.connection_panels import revoke_dialog, rotate_dialog
from connections_app.ui.components.connection_table import app_icon, reconnect_link
from connections_app.ui.components.layout import app_shell, empty_state, page_header
from connections_app.ui.components.portal_requests import pending_requests_section
from connections_app.ui.pages.workspace_pages import list_pager
from connections_app.ui.states.connection_details import RotateState
from connections_app.ui.states.oauth_connect import OAuthConnectState
from connections_app.ui.states.portal import PortalActivityState, PortalState

P = PortalState
A = PortalActivityState


def _fact(label: str, value: rx.Var | rx.Component) -> rx.Component:
    return rx.hstack(
        rx.text(label, size="1", color_scheme="gray", min_width="88px"),
        value if isinstance(value, rx.Component) else rx.text(value, size="2"),
        spacing="2",
        align="baseline",
        width="100%",
    )


def _button(text: str, icon: str, row: rx.Var, on_click: object, **props: object) -> rx.Component:
    return rx.button(
        rx.icon(icon, size=14),
        text,
        size="2",
        variant="soft",
        on_click=on_click,
        aria_label=f"{text} " + row["label"].to(str),
        class_name=f"portal-{text.lower()}",
        **props,
    )


def _actions(row: rx.Var) -> rx.Component:
    """Only what the core's `ConnectionActions` offers this client for this row."""
    can = row["actions"]
    return rx.hstack(
        rx.cond(
            can["reconnect"],
            reconnect_link(row["reconnect_url"], row["label"], class_name="portal-reconnect"),
        ),
        rx.cond(can["rotate"], _button("Rotate", "key-round", row, RotateState.show(row["id"]))),
        rx.cond(
            can["revoke"],
            _button(
                "Revoke", "ban", row, OAuthConnectState.ask_revoke(row["id"]), color_scheme="red"
            ),
        ),
        spacing="2",
        wrap="wrap",
    )


def _card(row: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                app_icon(row["app_icon"], row["app_name"], "36px"),
                rx.vstack(
                    rx.heading(row["label"], size="3", as_="h3", trim="both"),
                    rx.text(
                        row["app_name"],
                        " · ",
                        kind_text(row["kind"]),
                        size="1",
                        color_scheme="gray",
                    ),
                    spacing="1",
                    flex="1",
                    min_width="0",
                ),
                status_badge(row["status"]),
                spacing="3",
                align="center",
                width="100%",
            ),
            rx.cond(
                row["status_reason"] != "",
                rx.text(row["status_reason"], size="2", color="var(--red-11)"),
            ),
            _fact("Last used", row["last_used"]),
            _fact(
                "Used by",
                rx.cond(
                    row["workflows"] != "",
                    rx.text(row["workflows"], size="2", class_name="portal-workflows"),
                    rx.text("No workflow uses it yet", size="2", color_scheme="gray"),
                ),
            ),
            _actions(row),
            spacing="3",
            width="100%",
        ),
        id="portal-" + row["id"].to(str),
        class_name="portal-card",
        width="100%",
    )


def _connections() -> rx.Component:
    return rx.cond(
        ~P.loaded,
        rx.center(rx.spinner(size="3"), padding="48px", width="100%"),
        rx.cond(
            P.total > 0,
            rx.vstack(
                rx.grid(
                    rx.foreach(P.rows, _card),
                    columns=rx.breakpoints(initial="1", md="2"),
                    spacing="3",
                    width="100%",
                ),
                list_pager(P),
                width="100%",
                spacing="3",
                id="portal-connections",
            ),
            rx.cond(
                P.error == "",
                empty_state(
                    "shield-check",
                    "Nothing authorized yet",
                    "When your agency asks you to connect an app, the apps you authorize "
                    "appear here. Nobody at the agency can read your credentials.",
                ),
            ),
        ),
    )


def _activity_row(item: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.tooltip(
            rx.text(item["when"], size="1", color_scheme="gray", min_width="96px"),
            content=item["exact"],
        ),
        rx.vstack(
            rx.text(rx.text.strong(item["action"]), " · ", item["target"], size="2", as_="div"),
            rx.cond(
                item["summary"] != "",
                rx.text(item["summary"], size="1", color_scheme="gray"),
            ),
            spacing="0",
            min_width="0",
        ),
        spacing="3",
        align="start",
        width="100%",
        padding_y="6px",
        border_bottom="1px solid var(--gray-a3)",
    )


def _activity() -> rx.Component:
    return rx.vstack(
        rx.heading("Your activity", size="4", as_="h2"),
        rx.cond(
            A.total > 0,
            rx.vstack(
                rx.foreach(A.items, _activity_row),
                list_pager(A, previous_label="Newer", next_label="Older"),
                width="100%",
                spacing="1",
            ),
            rx.text(
                "Nothing yet: what you do here is listed, newest first.",
                size="2",
                color_scheme="gray",
            ),
        ),
        width="100%",
        spacing="2",
        id="portal-activity",
    )


def portal_page() -> rx.Component:
    return app_shell(
        page_header(
            "My connections",
            "The apps you have authorized for this workspace. You can reconnect, rotate "
            "or revoke them; the agency's workflows use them without seeing the secret.",
        ),
        pending_requests_section(),
        rx.cond(
            P.error != "",
            rx.callout(P.error, icon="triangle-alert", color_scheme="red", width="100%"),
        ),
        _connections(),
        rx.cond(P.loaded & (P.error == ""), _activity()),
        rotate_dialog(),
        revoke_dialog(),
    )
