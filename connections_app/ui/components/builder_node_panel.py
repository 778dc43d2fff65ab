"""A node's panel: its parameters and its authentication section with the connection
picker, and the dialog that switches every node of the workspace (F15–F17)."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.badges import status_badge
from connections_app.ui.components.builder_parts import form_error, param_input
from connections_app.ui.components.form_parts import (
    dialog,
    dialog_actions,
    dialog_description,
    text_button,
)
from connections_app.ui.states.add_connection import AddConnectionState
from connections_app.ui.states.node_panel import NodePanelState as P


def _option(option: rx.Var) -> rx.Component:
    chosen = option["selected"]
    return rx.el.button(
        rx.hstack(
            rx.icon(rx.cond(chosen, "circle-check", "circle"), size=16),
            rx.vstack(
                rx.text(option["label"], size="2", weight="medium"),
                rx.text(
                    option["tail"],
                    " ",
                    option["who"],
                    " · used ",
                    option["used"],
                    size="1",
                    color_scheme="gray",
                ),
                spacing="0",
                align="start",
            ),
            rx.spacer(),
            rx.cond(
                option["granted"] != "",
                rx.badge(option["granted"], color_scheme="violet", variant="soft", size="1"),
            ),
            status_badge(option["status"]),
            width="100%",
            align="center",
            spacing="2",
        ),
        type="button",
        on_click=P.pick(option["id"]),
        disabled=~P.can_edit,
        class_name="cx-picker-option",
        data_id=option["id"],
        aria_pressed=rx.cond(chosen, "true", "false"),
        style={
            "width": "100%",
            "padding": "8px 10px",
            "text_align": "left",
            "border": "1px solid",
            "border_color": rx.cond(chosen, "var(--accent-8)", "var(--gray-a5)"),
            "border_radius": "8px",
            "background": rx.cond(chosen, "var(--accent-a3)", "transparent"),
            "cursor": "pointer",
        },
    )


def _unplugged(text: rx.Var | str, element_id: str) -> rx.Component:
    """A node that cannot use its connection any more, in the words given."""
    return rx.callout(text, icon="unplug", color_scheme="red", size="1", id=element_id)


def _auth_section() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text("Authentication", size="3", weight="bold"),
            rx.spacer(),
            rx.cond(
                P.can_connect & P.can_edit,
                rx.button(
                    rx.icon("plus", size=14),
                    "Connect New Account",
                    size="1",
                    on_click=AddConnectionState.open_for_node(P.node_id),
                    id="connect-new-account",
                ),
            ),
            width="100%",
            align="center",
        ),
        rx.match(
            P.conn_state,
            (
                "missing",
                rx.callout(
                    "Connection missing: the connection this node used was deleted. "
                    "Pick another below.",
                    icon="unplug",
                    color_scheme="red",
                    size="1",
                ),
            ),
            (
                "ungranted",
                _unplugged(
                    "No longer granted: the account took this connection out of this "
                    "workspace. Pick another below, or ask an account admin to grant it again.",
                    "node-ungranted",
                ),
            ),
            ("unavailable", _unplugged(P.conn_notice, "node-unavailable")),
            ("none", rx.text("No connection picked yet.", size="2", color_scheme="gray")),
            rx.hstack(
                rx.text("Uses ", rx.text.strong(P.connection_label), size="2"),
                status_badge(P.conn_state),
                rx.spacer(),
                rx.cond(
                    P.can_edit,
                    rx.hstack(
                        rx.cond(
                            P.can_switch_all,
                            rx.button(
                                "Switch in all nodes…",
                                size="1",
                                variant="soft",
                                on_click=P.open_switch,
                                id="switch-all",
                            ),
                        ),
                        text_button("Clear", P.clear_connection, size="1", color_scheme="gray"),
                        spacing="2",
                    ),
                ),
                width="100%",
                align="center",
            ),
        ),
        rx.input(
            rx.input.slot(rx.icon("search", size=14)),
            placeholder="Search " + P.app_name + " connections",
            value=P.search,
            on_change=P.search_changed.debounce(300),
            id="picker-search",
            max_length=100,
            width="100%",
            aria_label="Search connections",
        ),
        rx.cond(
            P.options.length() > 0,
            rx.vstack(rx.foreach(P.options, _option), width="100%", spacing="1", id="picker"),
            rx.text(
                rx.cond(
                    P.search != "",
                    "No connection matches.",
                    "No usable " + P.app_name + " connection in this workspace yet.",
                ),
                size="2",
                color_scheme="gray",
                id="picker-empty",
            ),
        ),
        rx.cond(
            P.pages > 1,
            rx.hstack(
                rx.text(
                    "Page ",
                    P.page,
                    " · ",
                    P.total_label,
                    " connections",
                    size="1",
                    color_scheme="gray",
                ),
                rx.spacer(),
                rx.button(
                    "Previous",
                    size="1",
                    variant="soft",
                    on_click=P.previous_page,
                    disabled=P.page <= 1,
                ),
                rx.button(
                    "Next", size="1", variant="soft", on_click=P.next_page, disabled=~P.has_next
                ),
                width="100%",
                align="center",
            ),
        ),
        form_error(P.error),
        width="100%",
        spacing="2",
        id="node-auth",
    )


def _switch_dialog() -> rx.Component:
    return dialog(
        "Switch “" + P.connection_label + "” everywhere",
        dialog_description(
            "Every node of this workspace that uses it will use the connection you pick. "
            "This is one audited change."
        ),
        rx.input(
            placeholder="Search",
            value=P.switch_search,
            on_change=P.switch_search_changed.debounce(300),
            max_length=100,
            aria_label="Search connections to switch to",
        ),
        rx.vstack(
            rx.foreach(
                P.switch_options,
                lambda o: rx.hstack(
                    rx.text(o["label"], size="2"),
                    status_badge(o["status"]),
                    rx.spacer(),
                    rx.button(
                        "Switch to this",
                        size="1",
                        on_click=P.switch_all(o["id"]),
                        class_name="cx-switch-to",
                        data_label=o["label"],
                    ),
                    width="100%",
                    align="center",
                ),
            ),
            rx.cond(
                P.switch_options.length() == 0,
                rx.text("No other connection of this app to switch to.", size="2"),
            ),
            width="100%",
            spacing="2",
            margin_y="12px",
        ),
        dialog_actions(),
        open=P.switch_open,
        on_open_change=P.switch_open_changed,
    )


def _node_dialog() -> rx.Component:
    return dialog(
        P.label,
        rx.dialog.description(P.app_name + " · " + P.action_name, size="2", color_scheme="gray"),
        rx.vstack(
            _auth_section(),
            rx.separator(size="4"),
            rx.form(
                rx.vstack(
                    rx.text("Parameters", size="3", weight="bold"),
                    rx.foreach(P.params, lambda f: param_input(f, "node-param-")),
                    rx.cond(
                        P.params.length() == 0,
                        rx.text("This action takes no parameters.", size="2", color_scheme="gray"),
                    ),
                    dialog_actions(
                        rx.cond(
                            P.can_edit & (P.params.length() > 0),
                            rx.button("Save parameters", type="submit", id="save-params"),
                        ),
                        cancel_label="Close",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=P.save_params,
                reset_on_submit=False,
                key=P.form_key,
                width="100%",
            ),
            spacing="4",
            width="100%",
            margin_top="12px",
        ),
        open=P.open,
        on_open_change=P.open_changed,
        max_width="600px",
        max_height="88vh",
        overflow_y="auto",
        id="node-panel",
    )


def node_panel() -> rx.Component:
    """The node panel and its "switch every node" dialog (mounted once per page)."""
    return rx.fragment(_node_dialog(), _switch_dialog())
