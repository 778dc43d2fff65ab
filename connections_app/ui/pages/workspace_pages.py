"""Signed-in pages: Integrations, Builder, LLM Keys and the client portal."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.connection_table import connection_table
from connections_app.ui.components.layout import app_shell, empty_state, page_header
from connections_app.ui.states.connections_list import (
    AccountKeysState,
    ConnectionListState,
    PortalState,
)
from connections_app.ui.states.session import SessionState


def _error(state: type[ConnectionListState]) -> rx.Component:
    return rx.cond(
        state.error != "",
        rx.callout(state.error, icon="triangle-alert", color_scheme="red", width="100%"),
    )


def _pager(state: type[ConnectionListState]) -> rx.Component:
    return rx.hstack(
        rx.text(state.page_summary, size="2", color_scheme="gray"),
        rx.spacer(),
        rx.button(
            rx.icon("chevron-left", size=14),
            "Previous",
            variant="soft",
            color_scheme="gray",
            on_click=state.previous_page,
            disabled=state.page <= 1,
        ),
        rx.button(
            "Next",
            rx.icon("chevron-right", size=14),
            variant="soft",
            color_scheme="gray",
            on_click=state.next_page,
            disabled=state.page * 25 >= state.total,
        ),
        width="100%",
        align="center",
    )


def integrations_page() -> rx.Component:
    state = ConnectionListState
    return app_shell(
        page_header(
            "Integrations",
            "Every connection this workspace can use: its own and those granted by the account.",
        ),
        rx.hstack(
            rx.input(
                rx.input.slot(rx.icon("search", size=16)),
                placeholder="Search by label or app",
                value=state.search,
                on_change=state.search_changed.debounce(300),
                width="320px",
                id="connections-search",
                max_length=100,
            ),
            width="100%",
        ),
        _error(state),
        rx.cond(
            state.total > 0,
            rx.vstack(connection_table(state.rows), _pager(state), width="100%", spacing="3"),
            rx.cond(
                state.search != "",
                empty_state(
                    "search-x",
                    "No matching connections",
                    "Nothing in this workspace matches your search. Try another label or app.",
                ),
                empty_state(
                    "plug",
                    "No connections yet",
                    "Connections hold the credentials your workflows use to call third-party "
                    "apps. Each one is encrypted, scoped to this workspace, and shown here "
                    "with only the last few characters of its secret.",
                ),
            ),
        ),
    )


def builder_page() -> rx.Component:
    return app_shell(
        page_header("Builder", "Workflows of this workspace and the connections their nodes use."),
        empty_state(
            "workflow",
            "No workflows yet",
            "Workflows are lists of app actions. Each action authenticates with a connection "
            "you pick in its panel; one connection can back any number of nodes.",
        ),
    )


def llm_keys_page() -> rx.Component:
    state = AccountKeysState
    return app_shell(
        page_header(
            "LLM Keys",
            "Account-scoped model-provider keys, granted to workspaces with a monthly spend cap.",
        ),
        rx.cond(
            SessionState.is_account_admin,
            rx.vstack(
                _error(state),
                rx.cond(
                    state.total > 0,
                    rx.vstack(
                        connection_table(state.rows, show_usage=True),
                        _pager(state),
                        width="100%",
                        spacing="3",
                    ),
                    empty_state(
                        "sparkles",
                        "No account keys yet",
                        "Keys added here belong to the account, not to one workspace. They "
                        "reach a workspace only through a grant.",
                    ),
                ),
                width="100%",
            ),
            rx.callout("Only account admins manage LLM keys.", icon="lock", width="100%"),
        ),
    )


def portal_page() -> rx.Component:
    state = PortalState
    return app_shell(
        page_header(
            "My connections",
            "The apps you have authorized for this workspace. You can reconnect or revoke them.",
        ),
        _error(state),
        rx.cond(
            state.total > 0,
            rx.vstack(
                connection_table(state.rows, show_usage=False),
                _pager(state),
                width="100%",
                spacing="3",
            ),
            empty_state(
                "shield-check",
                "Nothing authorized yet",
                "When your agency sends you a connect link, the apps you authorize appear "
                "here. Nobody at the agency can read your credentials.",
            ),
        ),
    )
