"""A client's Workflows page in the portal (F32): the builder's own board, showing the
client's own workflows. The core decides everything a client sees there: which
workflows (its own), which connections a node may pick (its own and those the
workspace exposes to embedded workflows), and that it may not export, import or
add connections."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.builder_board import workflow_board
from connections_app.ui.components.layout import app_shell, page_header


def portal_workflows_page() -> rx.Component:
    return app_shell(
        page_header(
            "Workflows",
            "Build and run your own workflows from the catalog's actions, with the "
            "connections you authorized and those this workspace offers you.",
        ),
        workflow_board(
            "A workflow is a list of app actions. Each action uses a connection you pick "
            "in its panel: one you authorized, or one the workspace offers for your "
            "workflows."
        ),
    )
