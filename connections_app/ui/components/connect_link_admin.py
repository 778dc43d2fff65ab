"""The Connect links section of the Clients page: requests sent to clients (F24)."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.connection_table import app_icon
from connections_app.ui.components.form_parts import (
    confirm_dialog,
    dialog,
    dialog_actions,
    dialog_description,
    field_block,
)
from connections_app.ui.components.layout import empty_state
from connections_app.ui.states.connect_link_admin import ANY_CLIENT, URL_INPUT_ID
from connections_app.ui.states.connect_link_admin import ConnectLinkAdminState as S

_SELECT_STYLE = {
    "width": "100%",
    "padding": "6px 8px",
    "border": "1px solid var(--gray-a7)",
    "border_radius": "6px",
    "background": "var(--color-surface)",
    "font_size": "14px",
}
_COPY = (
    "(() => { const i = document.getElementById('" + URL_INPUT_ID + "');"
    " i.select(); if (navigator.clipboard) navigator.clipboard.writeText(i.value); })()"
)


def _error(name: str) -> rx.Component:
    return rx.cond(
        (S.error_field == name) & (S.error != ""),
        rx.text(S.error, size="1", color_scheme="red", role="alert"),
    )


def _request_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            field_block(
                "App",
                rx.el.select(
                    rx.foreach(
                        S.apps,
                        lambda a: rx.el.option(
                            a["label"] + " (" + a["note"] + ")", value=a["value"]
                        ),
                    ),
                    name="app",
                    id="link-app",
                    required=True,
                    style=_SELECT_STYLE,
                ),
                html_for="link-app",
                error=_error("app"),
            ),
            field_block(
                "Suggested label",
                rx.input(
                    name="label",
                    id="link-label",
                    required=True,
                    max_length=120,
                    placeholder="e.g. HubSpot (Acme)",
                    width="100%",
                ),
                html_for="link-label",
                help_text="The connection gets this name (made unique if it is taken).",
                error=_error("label"),
            ),
            field_block(
                "Client",
                rx.el.select(
                    rx.el.option("Any client of this workspace", value=ANY_CLIENT),
                    rx.foreach(
                        S.clients,
                        lambda c: rx.el.option(c["label"] + " · " + c["note"], value=c["value"]),
                    ),
                    name="client",
                    id="link-client",
                    style=_SELECT_STYLE,
                ),
                html_for="link-client",
                error=_error("client"),
            ),
            field_block(
                "Expires after (days)",
                rx.input(
                    name="expires_days",
                    id="link-expires",
                    type="number",
                    min="1",
                    max="30",
                    default_value="7",
                    width="100%",
                ),
                html_for="link-expires",
                error=_error("expires"),
            ),
            rx.cond(
                (S.error != "") & (S.error_field == ""),
                rx.callout(S.error, icon="triangle-alert", color_scheme="red", role="alert"),
            ),
            dialog_actions(
                rx.button(
                    "Create link",
                    type="submit",
                    id="link-create",
                    loading=S.busy,
                ),
            ),
            width="100%",
            spacing="3",
        ),
        key=S.form_key,
        on_submit=S.submit_request,
        width="100%",
    )


def _link_shown() -> rx.Component:
    """The new link, once: its URL is only in this input's value, never in state."""
    return rx.vstack(
        rx.callout(
            "Send this link to your client. It works once and is shown only now.",
            icon="info",
        ),
        rx.hstack(
            rx.input(
                id=URL_INPUT_ID,
                read_only=True,
                aria_label="Connect link",
                width="100%",
            ),
            rx.button(
                rx.icon("copy", size=14),
                "Copy",
                type="button",
                id="link-copy",
                on_click=rx.call_script(_COPY),
            ),
            width="100%",
        ),
        dialog_actions(cancel_label="Close"),
        width="100%",
        spacing="3",
        display=rx.cond(S.link_ready, "flex", "none"),
    )


def _request_dialog() -> rx.Component:
    return dialog(
        "Request a connection",
        dialog_description(
            "Your client signs in, opens the link and connects the app. Nobody here can "
            "read what they enter."
        ),
        rx.cond(S.link_ready, rx.fragment(), _request_form()),
        _link_shown(),
        open=S.request_open,
        on_open_change=S.request_open_changed,
        max_width="540px",
    )


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.hstack(
                app_icon(row["app_icon"], row["app_name"], "24px"),
                rx.vstack(
                    rx.text(row["label"], size="2", weight="medium"),
                    rx.text(row["app_name"], size="1", color_scheme="gray"),
                    spacing="0",
                ),
                align="center",
                spacing="2",
            )
        ),
        rx.table.cell(row["client_name"]),
        rx.table.cell(rx.badge(row["state"], color_scheme=row["state_color"], variant="soft")),
        rx.table.cell(rx.text(row["created"], title=row["created_exact"], size="2")),
        rx.table.cell(rx.text(row["expires"], size="2")),
        rx.table.cell(rx.text(row["connection_label"], size="2")),
        rx.table.cell(
            rx.cond(
                row["revocable"],
                rx.button(
                    "Revoke",
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=S.ask_revoke(row["id"]),
                    aria_label="Revoke link " + row["label"],
                ),
            )
        ),
    )


def _table() -> rx.Component:
    return rx.box(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in ("Link", "Client", "State", "Created", "Expires", "Connection", "")
                    ]
                )
            ),
            rx.table.body(rx.foreach(S.links, _row)),
            width="100%",
            id="connect-links-table",
        ),
        width="100%",
        overflow_x="auto",
    )


def connect_links_section() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text(
                "Ask a client to connect an app your workflows need. Each link works once.",
                size="2",
                color_scheme="gray",
            ),
            rx.spacer(),
            rx.button(
                rx.icon("link", size=14),
                "Request a connection",
                on_click=S.open_request,
                id="link-request",
            ),
            width="100%",
            align="center",
            wrap="wrap",
        ),
        rx.cond(
            S.load_error != "",
            rx.callout(S.load_error, icon="triangle-alert", color_scheme="red"),
        ),
        rx.cond(
            S.links.length() > 0,
            _table(),
            empty_state(
                "link",
                "No connect links yet",
                "Request a connection: your client gets a link to authorize the app, and "
                "the connection appears here and in their portal.",
            ),
        ),
        _request_dialog(),
        confirm_dialog(
            "Revoke this link?",
            "“" + S.revoke_label + "” can no longer be used. Connections already made stay.",
            rx.button(
                "Revoke link", color_scheme="red", on_click=S.confirm_revoke, id="link-revoke"
            ),
            open=S.revoke_open,
            on_open_change=S.revoke_open_changed,
        ),
        width="100%",
        spacing="3",
    )
