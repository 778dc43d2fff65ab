"""The Builder page: workflows on the left; the selected workflow's nodes, its newest
run, and the node panel with the connection picker (F15–F17, F22, F28, F29).

The pieces live in ui/components/builder_*.py; this page only lays them out.
"""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.builder_board import workflow_board
from connections_app.ui.components.layout import app_shell, page_header


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
        workflow_board(
            "Workflows are lists of app actions. Each action authenticates with a "
            "connection you pick in its panel; one connection can back any number of "
            "nodes."
        ),
    )
