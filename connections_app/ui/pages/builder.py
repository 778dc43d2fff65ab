"""The Builder page: workflows on the left; the selected workflow's nodes, its newest
run, and the node panel with the connection picker (F15–F17, F22, F28, F29).

The pieces live in ui/components/builder_*.py; this page only lays them out.
"""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.add_dialog import add_dialog
from connections_app.ui.components.builder_dialogs import workflow_dialogs
from connections_app.ui.components.builder_node_panel import node_panel
from connections_app.ui.components.builder_workflows import workflow_detail, workflow_list
from connections_app.ui.components.form_parts import text_button
from connections_app.ui.components.layout import app_shell, empty_state, page_header
from connections_app.ui.states.builder import BuilderState as B


def builder_page() -> rx.Component:
    return app_shell(
        page_header(
            "Builder",
            "Workflows of this workspace and the connections their nodes use.",
            rx.button(
                rx.el.a(rx.icon("history", size=14), "Runs", href="/runs"),
                as_child=True,
                variant="soft",
            ),
        ),
        rx.cond(
            ~B.loaded,
            rx.center(rx.spinner(size="3"), padding="48px", width="100%"),
            rx.cond(
                B.workflows.length() > 0,
                rx.hstack(
                    workflow_list(),
                    workflow_detail(),
                    spacing="5",
                    align="start",
                    width="100%",
                    wrap="wrap",  # under ~600 px the workflow list sits above the detail
                ),
                empty_state(
                    "workflow",
                    "No workflows yet",
                    "Workflows are lists of app actions. Each action authenticates with a "
                    "connection you pick in its panel; one connection can back any number of "
                    "nodes.",
                    rx.cond(
                        B.can_edit,
                        rx.hstack(
                            rx.button(
                                rx.icon("plus", size=14),
                                "New workflow",
                                on_click=B.open_create,
                                id="first-workflow",
                            ),
                            text_button("Import", B.open_import, icon="upload", variant="soft"),
                            spacing="2",
                        ),
                    ),
                ),
            ),
        ),
        workflow_dialogs(),
        node_panel(),
        add_dialog(),
    )
