"""/workspaces: the account's workspaces for its admins, each with Delete workspace.

The confirmation lists what goes (the core's words) and asks for the workspace's name;
the red button stays disabled until it matches (the core checks again).
"""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.form_parts import (
    dialog,
    dialog_actions,
    dialog_description,
    field_block,
    text_button,
)
from connections_app.ui.components.layout import app_shell, page_header
from connections_app.ui.states.rows import Choice
from connections_app.ui.states.workspaces import WorkspacesState

S = WorkspacesState


def _row(w: rx.Var[Choice]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(w.label, weight="medium")),
        rx.table.cell(
            rx.cond(
                w.note == "last",
                rx.text("The account's only workspace", size="2", color_scheme="gray"),
                text_button(
                    "Delete workspace",
                    S.open_delete(w.value),
                    icon="trash-2",
                    variant="soft",
                    color_scheme="red",
                    size="1",
                    aria_label="Delete workspace " + w.label,
                ),
            ),
            text_align="right",
        ),
    )


def _delete_dialog() -> rx.Component:
    return dialog(
        rx.text("Delete workspace “", S.delete_name, "”?"),
        dialog_description(
            "Its data keys are destroyed first, so every stored credential becomes "
            "unreadable; then everything below is deleted. The audit trail keeps a record "
            "that it was deleted. This cannot be undone."
        ),
        rx.el.ul(
            rx.foreach(S.delete_lines, lambda line: rx.el.li(rx.text(line, size="2"))),
            id="deletion-summary",
            style={"paddingLeft": "20px", "marginBottom": "12px"},
        ),
        rx.el.form(
            rx.vstack(
                field_block(
                    rx.text("Type “", S.delete_name, "” to confirm"),
                    rx.input(
                        id="confirm-workspace-name",
                        value=S.typed,
                        on_change=S.typed_changed,
                        auto_complete="off",
                        disabled=S.busy,
                        width="100%",
                    ),
                    html_for="confirm-workspace-name",
                    error=rx.cond(
                        S.form_error != "",
                        rx.text(S.form_error, size="1", color_scheme="red", role="alert"),
                    ),
                ),
                dialog_actions(
                    rx.button(
                        rx.cond(S.busy, rx.spinner(size="1"), rx.icon("trash-2", size=14)),
                        rx.cond(S.busy, "Deleting…", "Delete workspace"),
                        color_scheme="red",
                        type="submit",
                        id="confirm-delete-workspace",
                        disabled=S.busy | (S.typed != S.delete_name),
                    )
                ),
                width="100%",
                spacing="3",
            ),
            prevent_default=True,
            on_submit=S.confirm_delete,
        ),
        open=S.delete_open,
        on_open_change=S.delete_open_changed,
    )


def workspaces_page() -> rx.Component:
    return app_shell(
        page_header("Workspaces", "The workspaces of your account."),
        rx.cond(
            S.allowed,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Workspace"),
                        rx.table.column_header_cell(""),
                    )
                ),
                rx.table.body(rx.foreach(S.rows, _row)),
                width="100%",
                id="workspaces-table",
            ),
            rx.callout(
                "Only account admins can manage workspaces.",
                icon="lock",
                width="100%",
                id="only-account-admins",
            ),
        ),
        _delete_dialog(),
    )
