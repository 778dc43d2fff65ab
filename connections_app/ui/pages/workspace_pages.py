"""Signed-in pages: Integrations (the account's screens and LLM Keys: account_pages.py;
the client portal: portal.py)."""

from __future__ import annotations

import reflex as rx

from connections_app.core.catalog import AppDefinition, get_catalog
from connections_app.ui.components.add_dialog import add_dialog
from connections_app.ui.components.badges import KIND_LABELS, STATUS_COLORS
from connections_app.ui.components.connection_panels import (
    delete_dialog,
    details_panel,
    edit_dialog,
    revoke_dialog,
    rotate_dialog,
)
from connections_app.ui.components.connection_table import connection_table
from connections_app.ui.components.form_parts import pager, text_button
from connections_app.ui.components.layout import app_shell, empty_state, page_header
from connections_app.ui.states.add_connection import AddConnectionState
from connections_app.ui.states.connections_list import ConnectionListState
from connections_app.ui.states.paging import PagedMixin


def list_error(state: type[ConnectionListState]) -> rx.Component:
    return rx.cond(
        state.error != "",
        rx.callout(state.error, icon="triangle-alert", color_scheme="red", width="100%"),
    )


def list_pager(state: type[PagedMixin], **labels: str) -> rx.Component:
    return pager(
        summary=state.page_summary,
        on_previous=state.previous_page,
        on_next=state.next_page,
        at_first=state.page <= 1,
        has_next=state.has_next,
        **labels,
    )


def _filter_select(
    state: type[ConnectionListState],
    name: str,
    value: rx.Var,
    placeholder: str,
    items: list[tuple[str, str]],
) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(placeholder=placeholder, id=f"filter-{name}", min_width="140px"),
        rx.select.content(
            rx.select.item(f"All {placeholder.lower()}", value="all"),
            rx.select.separator(),
            *[rx.select.item(label, value=key) for key, label in items],
        ),
        value=value,
        on_change=lambda v: state.filter_changed(name, v),
        size="2",
    )


def list_body(
    state: type[ConnectionListState], items: rx.Component, *, no_match: str, empty: rx.Component
) -> rx.Component:
    """A spinner until loaded, then the page of items with its pager, or why there are
    none (the filters match nothing, or the list is empty)."""
    return rx.cond(
        ~state.list_loaded,
        rx.center(rx.spinner(size="3"), padding="48px", width="100%"),
        rx.cond(
            state.total > 0,
            rx.vstack(items, list_pager(state), width="100%", spacing="3"),
            rx.cond(
                state.filtering,
                empty_state(
                    "search-x",
                    "No matching connections",
                    no_match,
                    rx.button("Clear filters", variant="soft", on_click=state.clear_filters),
                ),
                empty,
            ),
        ),
    )


def connection_filters(
    state: type[ConnectionListState], apps: list[AppDefinition] | None = None
) -> rx.Component:
    """Search and filters of a connection list; each state's events reload its own list."""
    apps = list(get_catalog().apps) if apps is None else apps
    return rx.hstack(
        rx.input(
            rx.input.slot(rx.icon("search", size=16)),
            placeholder="Search by label or app",
            value=state.search,
            on_change=state.search_changed.debounce(300),
            width="280px",
            id="connections-search",
            max_length=100,
            aria_label="Search connections",
        ),
        _filter_select(state, "app", state.app_filter, "Apps", [(a.key, a.name) for a in apps]),
        _filter_select(state, "kind", state.kind_filter, "Kinds", list(KIND_LABELS.items())),
        _filter_select(
            state,
            "status",
            state.status_filter,
            "Statuses",
            [(k, k.capitalize()) for k in STATUS_COLORS],
        ),
        rx.cond(
            state.filtering,
            text_button("Clear", state.clear_filters, icon="x", color_scheme="gray"),
        ),
        width="100%",
        spacing="3",
        wrap="wrap",
        align="center",
    )


def integrations_page() -> rx.Component:
    state = ConnectionListState
    add_button = rx.cond(
        state.can_add,
        rx.button(
            rx.icon("plus", size=16),
            "Add connection",
            on_click=AddConnectionState.open_dialog,
            size="2",
            id="add-connection",
        ),
    )
    return app_shell(
        page_header(
            "Integrations",
            "Every connection this workspace can use: its own and those granted by the account.",
            add_button,
        ),
        connection_filters(state),
        list_error(state),
        list_body(
            state,
            connection_table(state.rows, show_actions=True),
            no_match="Nothing in this workspace matches these filters.",
            empty=empty_state(
                "plug",
                "No connections yet",
                "Connections hold the credentials your workflows use to call "
                "third-party apps. Each one is encrypted, scoped to this workspace, "
                "and shown with only the last few characters of its secret.",
                add_button,
            ),
        ),
        add_dialog(),
        details_panel(),
        edit_dialog(),
        rotate_dialog(),
        delete_dialog(),
        revoke_dialog(),
    )
