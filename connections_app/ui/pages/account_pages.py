"""The account's screens (account admins): account connections with their grants, and
LLM Keys (model-provider keys with spend against each workspace's cap).

Anyone else gets a plain "only account admins" page: the state loads no data for
them (the core answers nothing), and the nav hides both items.
"""

from __future__ import annotations

import reflex as rx

from connections_app.core.catalog import get_catalog
from connections_app.ui.components.add_dialog import add_dialog
from connections_app.ui.components.badges import status_badge
from connections_app.ui.components.connection_panels import (
    delete_dialog,
    details_panel,
    rotate_dialog,
)
from connections_app.ui.components.connection_table import app_icon
from connections_app.ui.components.form_parts import (
    confirm_dialog,
    dialog,
    dialog_actions,
    dialog_description,
    field_block,
    text_button,
)
from connections_app.ui.components.layout import app_shell, empty_state, page_header
from connections_app.ui.pages.workspace_pages import connection_filters, list_body, list_error
from connections_app.ui.states.account_connections import AccountConnectionsState, LlmKeysState
from connections_app.ui.states.add_connection import AddConnectionState
from connections_app.ui.states.connection_details import DeleteState, DetailsState, RotateState

S = AccountConnectionsState


def _only_admins(what: str) -> rx.Component:
    return rx.callout(
        f"Only account admins can open {what}. Ask an account admin of your agency.",
        icon="lock",
        width="100%",
        id="only-account-admins",
    )


def _spend_bar(g: rx.Var) -> rx.Component:
    """Month-to-date spend against the cap; without a cap, the amount plainly."""
    return rx.cond(
        g["has_cap"],
        rx.vstack(
            rx.box(
                rx.box(
                    height="100%",
                    width=g["percent"].to_string() + "%",
                    background=rx.cond(g["over_cap"], "var(--red-9)", "var(--accent-9)"),
                    border_radius="4px",
                ),
                height="8px",
                width="160px",
                background="var(--gray-a4)",
                border_radius="4px",
                custom_attrs={
                    "role": "progressbar",
                    "aria-valuemin": "0",
                    "aria-valuemax": "100",
                    "aria-valuenow": g["percent"].to_string(),
                    "aria-valuetext": g["spent"].to(str) + " of " + g["cap"].to(str),
                    "aria-label": "Spend this month for " + g["workspace"].to(str),
                },
                class_name="cx-spend-bar",
            ),
            rx.text(g["spent"], " of ", g["cap"], " this month", size="1", color_scheme="gray"),
            spacing="1",
        ),
        rx.text(g["spent"], " this month · no cap", size="2", color_scheme="gray"),
    )


def _grant_line(g: rx.Var, state: type[AccountConnectionsState]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(g["workspace"], size="2", weight="medium")),
        rx.table.cell(rx.text(g["cap"], size="2")),
        rx.table.cell(_spend_bar(g)),
        rx.table.cell(
            rx.hstack(
                text_button(
                    rx.cond(g["has_cap"], "Change cap", "Set cap"),
                    state.open_cap(g["id"]),
                    size="1",
                    variant="soft",
                    aria_label="Change the cap for " + g["workspace"].to(str),
                ),
                text_button(
                    "Remove",
                    state.ask_remove(g["id"]),
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    aria_label="Remove the grant to " + g["workspace"].to(str),
                ),
                spacing="2",
                justify="end",
            ),
            text_align="right",
        ),
        align="center",
    )


def _card(card: rx.Var, state: type[AccountConnectionsState]) -> rx.Component:
    c = card["connection"]
    actions = c["actions"]
    return rx.card(
        rx.vstack(
            rx.hstack(
                app_icon(c["app_icon"], c["app_name"]),
                rx.vstack(
                    rx.heading(c["label"], size="3", as_="h2"),
                    rx.text(c["app_name"], " · ", c["masked_tail"], size="1", color_scheme="gray"),
                    spacing="0",
                ),
                status_badge(c["status"]),
                rx.spacer(),
                text_button("Details", DetailsState.show(c["id"]), size="1", variant="soft"),
                rx.cond(
                    actions["test"],
                    text_button("Test", DetailsState.run_test(c["id"]), size="1", variant="soft"),
                ),
                rx.cond(
                    actions["rotate"],
                    text_button("Rotate", RotateState.show(c["id"]), size="1", variant="soft"),
                ),
                rx.cond(
                    actions["delete"],
                    text_button(
                        "Delete",
                        DeleteState.show(c["id"]),
                        size="1",
                        variant="soft",
                        color_scheme="red",
                    ),
                ),
                width="100%",
                align="center",
                spacing="3",
                wrap="wrap",
            ),
            rx.cond(
                card["grants"].length() > 0,
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Workspace"),
                            rx.table.column_header_cell("Monthly cap"),
                            rx.table.column_header_cell("Spent this month (UTC)"),
                            rx.table.column_header_cell(""),
                        )
                    ),
                    rx.table.body(rx.foreach(card["grants"], lambda g: _grant_line(g, state))),
                    size="1",
                    width="100%",
                ),
                rx.text(
                    "Not granted to any workspace yet: no workspace can use it.",
                    size="2",
                    color_scheme="gray",
                ),
            ),
            rx.button(
                rx.icon("plus", size=14),
                "Grant to a workspace",
                size="1",
                variant="outline",
                on_click=state.open_grant(c["id"]),
                aria_label="Grant " + c["label"].to(str) + " to a workspace",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        class_name="cx-account-card",
        data_id=c["id"],
    )


def _cap_field(
    state: type[AccountConnectionsState],
    label: str,
    element_id: str,
    help_text: str,
    **input_props: object,
) -> rx.Component:
    """The cap input (dollars; the core parses and checks it) and the form's error."""
    return rx.vstack(
        field_block(
            label,
            rx.input(name="cap", id=element_id, max_length=20, width="100%", **input_props),
            html_for=element_id,
            help_text=help_text,
        ),
        rx.cond(
            state.form_error != "",
            rx.callout(state.form_error, icon="triangle-alert", color_scheme="red"),
        ),
        spacing="3",
        width="100%",
    )


def _grant_dialog(state: type[AccountConnectionsState]) -> rx.Component:
    return dialog(
        "Grant to a workspace",
        dialog_description(
            "The workspace can use “",
            state.grant_label,
            "” in its workflows; it never sees the key or its settings.",
        ),
        rx.cond(
            state.grant_choices.length() > 0,
            rx.form(
                rx.vstack(
                    field_block(
                        "Workspace",
                        rx.el.select(
                            rx.foreach(
                                state.grant_choices,
                                lambda ch: rx.el.option(ch["label"], value=ch["value"]),
                            ),
                            name="workspace",
                            id="grant-workspace",
                            class_name="cx-native-select",
                        ),
                        html_for="grant-workspace",
                    ),
                    _cap_field(
                        state,
                        "Monthly spend cap (US dollars, optional)",
                        "grant-cap",
                        "Counted per UTC calendar month for model calls through it.",
                        placeholder="e.g. 5.00 — empty for no cap",
                    ),
                    dialog_actions(rx.button("Grant", type="submit", id="grant-submit")),
                    spacing="3",
                ),
                on_submit=state.submit_grant,
                key=state.form_key,
            ),
            rx.vstack(
                rx.text("Every workspace of the account has it already.", size="2"),
                dialog_actions(cancel_label="Close"),
            ),
        ),
        open=state.grant_open,
        on_open_change=lambda v: state.dialog_changed("grant", v),
    )


def _cap_dialog(state: type[AccountConnectionsState]) -> rx.Component:
    return dialog(
        "Monthly spend cap",
        dialog_description(
            "For ", state.cap_workspace, ". A step is refused once the month's spend reaches it."
        ),
        rx.form(
            rx.vstack(
                _cap_field(
                    state,
                    "Cap (US dollars)",
                    "cap-input",
                    "Leave empty (or use No cap) to let this workspace spend freely.",
                    placeholder="e.g. 5.00",
                    default_value=state.cap_value,
                ),
                dialog_actions(
                    rx.button(
                        "No cap",
                        type="button",
                        on_click=state.clear_cap,
                        variant="soft",
                        id="cap-clear",
                    ),
                    rx.button("Save cap", type="submit", id="cap-save"),
                ),
                spacing="3",
            ),
            on_submit=state.submit_cap,
            key=state.form_key,
        ),
        open=state.cap_open,
        on_open_change=lambda v: state.dialog_changed("cap", v),
    )


def _remove_dialog(state: type[AccountConnectionsState]) -> rx.Component:
    return confirm_dialog(
        "Remove this grant?",
        rx.fragment(
            state.remove_workspace,
            " can no longer use “",
            state.remove_label,
            "”: it leaves their pickers now, their nodes show “No longer granted” and their "
            "runs are refused.",
            rx.cond(state.form_error != "", rx.text(state.form_error, color="red")),
        ),
        rx.button("Remove grant", color_scheme="red", on_click=state.confirm_remove),
        open=state.remove_open,
        on_open_change=lambda v: state.dialog_changed("remove", v),
    )


def _account_list(
    state: type[AccountConnectionsState], *, models_only: bool, empty: rx.Component
) -> rx.Component:
    apps = [a for a in get_catalog().apps if a.model_provider or not models_only]
    return rx.vstack(
        connection_filters(state, apps),
        list_error(state),
        list_body(
            state,
            rx.vstack(
                rx.foreach(state.cards, lambda card: _card(card, state)),
                width="100%",
                spacing="3",
            ),
            no_match="No account connection matches these filters.",
            empty=empty,
        ),
        _grant_dialog(state),
        _cap_dialog(state),
        _remove_dialog(state),
        add_dialog(),
        details_panel(),
        rotate_dialog(),
        delete_dialog(),
        width="100%",
        spacing="4",
    )


def _add_button(label: str, models_only: bool, element_id: str) -> rx.Component:
    return rx.button(
        rx.icon("plus", size=16),
        label,
        on_click=AddConnectionState.open_for_account(models_only),
        size="2",
        id=element_id,
    )


def account_connections_page() -> rx.Component:
    add = _add_button("Add account connection", False, "add-account-connection")
    add_first = _add_button("Add account connection", False, "add-first-account-connection")
    return app_shell(
        page_header(
            "Account connections",
            "Connections that belong to the account, not to one workspace. Each reaches a "
            "workspace only through a grant.",
            rx.cond(S.allowed, add),
        ),
        rx.cond(
            S.allowed,
            _account_list(
                S,
                models_only=False,
                empty=empty_state(
                    "building-2",
                    "No account connections yet",
                    "Add one here, then grant it to the workspaces that should use it. "
                    "Workspaces can use it but never see its key or settings.",
                    add_first,
                ),
            ),
            rx.cond(S.list_loaded, _only_admins("the account's connections")),
        ),
    )


def llm_keys_page() -> rx.Component:
    state = LlmKeysState
    add = _add_button("Add key", True, "add-account-connection")
    add_first = _add_button("Add key", True, "add-first-account-connection")
    return app_shell(
        page_header(
            "LLM Keys",
            "The account's model-provider keys, granted to workspaces with a monthly spend cap.",
            rx.cond(state.allowed, add),
        ),
        rx.cond(
            state.allowed,
            _account_list(
                state,
                models_only=True,
                empty=empty_state(
                    "sparkles",
                    "No LLM keys yet",
                    "Add an OpenAI or Anthropic key for the whole account, then grant it to "
                    "workspaces, each with its own monthly spend cap.",
                    add_first,
                ),
            ),
            rx.cond(state.list_loaded, _only_admins("LLM Keys")),
        ),
    )
