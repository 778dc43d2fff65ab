"""The builder's main area: the workflow list, and the selected workflow's nodes and
newest run (F15, F22, F28)."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.badges import status_badge
from connections_app.ui.components.connection_table import app_icon
from connections_app.ui.components.form_parts import text_button
from connections_app.ui.components.run_parts import run_card
from connections_app.ui.states.builder import BuilderState as B
from connections_app.ui.states.node_panel import NodePanelState as P


def _workflow_item(wf: rx.Var) -> rx.Component:
    selected = wf["id"] == B.selected_id
    return rx.el.button(
        rx.hstack(
            rx.icon("workflow", size=16),
            rx.text(
                wf["label"], size="2", weight=rx.cond(selected, "bold", "regular"), trim="both"
            ),
            rx.spacer(),
            rx.badge(wf["nodes"], variant="soft", color_scheme="gray", radius="full"),
            width="100%",
            align="center",
        ),
        type="button",
        on_click=B.select(wf["id"]),
        aria_current=rx.cond(selected, "true", "false"),
        class_name="cx-workflow-item",
        style={
            "width": "100%",
            "padding": "8px 10px",
            "border_radius": "8px",
            "text_align": "left",
            "cursor": "pointer",
            "background": rx.cond(selected, "var(--accent-a4)", "transparent"),
            "_hover": {"background": "var(--accent-a3)"},
        },
    )


def workflow_list() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text("Workflows", size="2", weight="bold", color_scheme="gray"),
            rx.spacer(),
            rx.cond(
                B.can_edit,
                rx.icon_button(
                    rx.icon("plus", size=16),
                    size="1",
                    variant="soft",
                    on_click=B.open_create,
                    aria_label="New workflow",
                    id="new-workflow",
                ),
            ),
            width="100%",
            align="center",
        ),
        rx.foreach(B.workflows, _workflow_item),
        rx.cond(
            B.can_edit & B.can_transfer,
            text_button("Import", B.open_import, icon="upload", size="1", id="import-workflow"),
        ),
        width="240px",
        min_width="240px",
        spacing="1",
        padding="12px",
        border="1px solid var(--gray-a5)",
        border_radius="12px",
    )


def _unplugged(text: str) -> rx.Component:
    """A node whose connection it cannot use any more (deleted, or no longer granted)."""
    return rx.badge(rx.icon("unplug", size=12), text, color_scheme="red", class_name="cx-missing")


def _connection_chip(node: rx.Var) -> rx.Component:
    return rx.match(
        node["conn_state"],
        (
            "none",
            rx.badge(rx.icon("plug-zap", size=12), "No connection", color_scheme="amber"),
        ),
        ("ungranted", _unplugged("No longer granted")),
        ("unavailable", _unplugged("No longer available")),
        ("missing", _unplugged("Connection missing")),
        rx.hstack(
            rx.badge(rx.icon("key-round", size=12), node["connection_label"], variant="outline"),
            status_badge(node["conn_state"]),
            spacing="1",
        ),
    )


def _node_button(
    icon: str, on_click: rx.EventSpec, label: rx.Var | str, color: str = "gray"
) -> rx.Component:
    return rx.icon_button(
        rx.icon(icon, size=14),
        size="1",
        variant="ghost",
        color_scheme=color,
        on_click=on_click,
        aria_label=label,
    )


def _node_card(node: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.badge(node["position"], radius="full", variant="solid", size="2"),
        app_icon(node["icon"], node["app_name"], "32px"),
        rx.vstack(
            rx.text(node["label"], size="3", weight="medium"),
            rx.text(node["app_name"], " · ", node["action_name"], size="1", color_scheme="gray"),
            rx.cond(node["summary"] != "", rx.text(node["summary"], size="1", color_scheme="gray")),
            spacing="0",
            align="start",
            flex="1 1 180px",  # keeps the first line; the chip and buttons wrap instead
            min_width="0",
        ),
        rx.spacer(),
        _connection_chip(node),
        rx.button(
            "Open",
            variant="soft",
            size="1",
            on_click=P.open_panel(node["id"]),
            class_name="cx-open-node",
            aria_label="Open node " + node["label"],
        ),
        rx.cond(
            B.can_edit,
            rx.hstack(
                _node_button("arrow-up", B.move(node["id"], "up"), "Move up"),
                _node_button("arrow-down", B.move(node["id"], "down"), "Move down"),
                _node_button(
                    "trash-2", B.ask_remove(node["id"]), "Remove node " + node["label"], "red"
                ),
                spacing="1",
            ),
        ),
        width="100%",
        align="center",
        spacing="3",
        wrap="wrap",  # narrow screens: the chip and buttons go to a second line
        padding="12px 14px",
        border="1px solid var(--gray-a5)",
        border_radius="10px",
        class_name="cx-node",
        data_node=node["id"],
    )


def _last_run() -> rx.Component:
    return rx.cond(
        B.last_run["id"] != "",
        run_card(
            rx.text("Latest run", size="2", weight="bold"),
            B.last_run,
            B.last_steps,
            rx.text(
                B.last_run["when"], " · ", B.last_run["progress"], size="1", color_scheme="gray"
            ),
            rx.spacer(),
            rx.cond(
                B.last_run["waiting"] & B.can_edit,
                rx.button(
                    "Try again now",
                    size="1",
                    variant="soft",
                    on_click=B.retry(B.last_run["id"]),
                ),
            ),
            rx.cond(
                B.runs_page != "",
                rx.link("All runs", href=B.runs_page + "?wf=" + B.selected_id, size="2"),
            ),
            id="latest-run",
        ),
    )


def workflow_detail() -> rx.Component:
    running = B.busy == "run"
    return rx.vstack(
        rx.hstack(
            rx.heading(B.selected_name, size="5", id="workflow-name"),
            rx.spacer(),
            rx.cond(
                B.can_edit,
                rx.hstack(
                    rx.button(
                        rx.cond(running, rx.spinner(size="1"), rx.icon("play", size=14)),
                        "Run",
                        on_click=B.run("live"),
                        disabled=running | (B.nodes.length() == 0),
                        id="run-live",
                    ),
                    rx.button(
                        rx.icon("flask-conical", size=14),
                        "Run in test mode",
                        variant="soft",
                        color_scheme="purple",
                        on_click=B.run("test"),
                        disabled=running | (B.nodes.length() == 0),
                        id="run-test",
                    ),
                    rx.menu.root(
                        rx.menu.trigger(
                            rx.icon_button(
                                rx.icon("ellipsis", size=16),
                                variant="soft",
                                color_scheme="gray",
                                aria_label="More workflow actions",
                                id="workflow-menu",
                            )
                        ),
                        rx.menu.content(
                            rx.menu.item("Rename", on_click=B.open_rename),
                            rx.cond(
                                B.can_transfer,
                                rx.menu.item(
                                    "Export JSON", on_click=B.export, id="export-workflow"
                                ),
                            ),
                            rx.menu.separator(),
                            rx.menu.item("Delete", color="red", on_click=B.open_delete),
                        ),
                    ),
                    spacing="2",
                ),
                rx.cond(
                    B.can_transfer,
                    rx.button(
                        rx.icon("download", size=14),
                        "Export JSON",
                        variant="soft",
                        on_click=B.export,
                    ),
                ),
            ),
            width="100%",
            align="center",
            wrap="wrap",
            spacing="2",
        ),
        rx.cond(
            B.nodes.length() > 0,
            rx.vstack(rx.foreach(B.nodes, _node_card), width="100%", spacing="2", id="node-list"),
            rx.callout(
                "No nodes yet. A node is one app action; it authenticates with a connection "
                "you pick in its panel.",
                icon="info",
                width="100%",
            ),
        ),
        rx.cond(
            B.can_edit,
            text_button("Add node", B.open_add, icon="plus", variant="outline", id="add-node"),
        ),
        _last_run(),
        flex="1 1 320px",
        min_width="0",  # may shrink below its content: long rows wrap, the page does not scroll
        spacing="3",
        width="100%",
    )
