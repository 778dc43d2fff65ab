"""The builder's board: workflows on the left, the selected one's nodes, its newest run
and the node panel. Shared by the workspace's Builder page and a client's portal
Workflows page (F32): what a person may do there comes from the core's answers
(`may_build`, the picker's rows, `may_change_workspace_wide`), never from the page."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.add_dialog import add_dialog
from connections_app.ui.components.builder_dialogs import workflow_dialogs
from connections_app.ui.components.builder_node_panel import node_panel
from connections_app.ui.components.builder_workflows import workflow_detail, workflow_list
from connections_app.ui.components.form_parts import text_button
from connections_app.ui.components.layout import empty_state
from connections_app.ui.states.builder import BuilderState as B


def workflow_board(empty_text: str) -> rx.Component:
    return rx.fragment(
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
                    empty_text,
                    rx.cond(
                        B.can_edit,
                        rx.hstack(
                            rx.button(
                                rx.icon("plus", size=14),
                                "New workflow",
                                on_click=B.open_create,
                                id="first-workflow",
                            ),
                            rx.cond(
                                B.can_transfer,
                                text_button("Import", B.open_import, icon="upload", variant="soft"),
                            ),
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
