"""/workspaces: the account's workspaces for its admins, each with Delete workspace,
and below them Delete account.

Each confirmation lists what goes (the core's words) and asks for the name; the red
button stays disabled until it matches (the core checks again).
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
from connections_app.ui.states.account_deletion import AccountDeletionState
from connections_app.ui.states.rows import Choice
from connections_app.ui.states.workspaces import WorkspacesState

S = WorkspacesState
A = AccountDeletionState


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


def _typed_delete_dialog(
    state: type[WorkspacesState] | type[AccountDeletionState],
    *,
    noun: str,
    description: str,
    summary_id: str,
) -> rx.Component:
    """Delete a workspace or the account: the core's list of what goes, then the name
    typed out before the red button wakes up (the core compares it again)."""
    name = state.delete_name
    return dialog(
        rx.text(f"Delete {noun} “", name, "”?"),
        dialog_description(description),
        rx.el.ul(
            rx.foreach(state.delete_lines, lambda line: rx.el.li(rx.text(line, size="2"))),
            id=summary_id,
            style={"paddingLeft": "20px", "marginBottom": "12px"},
        ),
        rx.el.form(
            rx.vstack(
                field_block(
                    rx.text("Type “", name, "” to confirm"),
                    rx.input(
                        id=f"confirm-{noun}-name",
                        value=state.typed,
                        on_change=state.typed_changed,
                        auto_complete="off",
                        disabled=state.busy,
                        width="100%",
                    ),
                    html_for=f"confirm-{noun}-name",
                    error=rx.cond(
                        state.form_error != "",
                        rx.text(state.form_error, size="1", color_scheme="red", role="alert"),
                    ),
                ),
                dialog_actions(
                    rx.button(
                        rx.cond(state.busy, rx.spinner(size="1"), rx.icon("trash-2", size=14)),
                        rx.cond(state.busy, "Deleting…", f"Delete {noun}"),
                        color_scheme="red",
                        type="submit",
                        id=f"confirm-delete-{noun}",
                        disabled=state.busy | (state.typed != name),
                    )
                ),
                width="100%",
                spacing="3",
            ),
            prevent_default=True,
            on_submit=state.confirm_delete,
        ),
        open=state.delete_open,
        on_open_change=state.delete_open_changed,
    )


def _account_zone() -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.vstack(
                rx.text("Delete this account", weight="medium"),
                rx.text(
                    "Every workspace, connection, workflow and run of “",
                    S.account_name,
                    "”, with every data key destroyed first.",
                    size="2",
                    color_scheme="gray",
                ),
                spacing="1",
            ),
            rx.spacer(),
            text_button(
                "Delete account…",
                A.open_delete,
                icon="trash-2",
                variant="soft",
                color_scheme="red",
                id="delete-account",
            ),
            align="center",
            width="100%",
            wrap="wrap",
            spacing="3",
        ),
        width="100%",
        id="account-danger-zone",
    )


def workspaces_page() -> rx.Component:
    return app_shell(
        page_header("Workspaces", "The workspaces of your account."),
        rx.cond(
            S.allowed,
            rx.vstack(
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
                _account_zone(),
                width="100%",
                spacing="5",
            ),
            rx.callout(
                "Only account admins can manage workspaces.",
                icon="lock",
                width="100%",
                id="only-account-admins",
            ),
        ),
        _typed_delete_dialog(
            S,
            noun="workspace",
            description="Its data keys are destroyed first, so every stored credential "
            "becomes unreadable; then everything below is deleted. The audit trail keeps a "
            "record that it was deleted. This cannot be undone.",
            summary_id="deletion-summary",
        ),
        _typed_delete_dialog(
            A,
            noun="account",
            description="The data keys of the account and of each of its workspaces are "
            "destroyed first, so every stored credential becomes unreadable; then everything "
            "below is deleted. The audit trail keeps a record that it was deleted. This "
            "cannot be undone.",
            summary_id="account-deletion-summary",
        ),
    )
