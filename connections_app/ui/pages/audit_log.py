"""Workspace audit log (admins): who did what to which connection, and when."""

from __future__ import annotations

import reflex as rx

from connections_app.core.audit_log import ACTION_CHOICES
from connections_app.ui.components.form_parts import pager
from connections_app.ui.components.layout import app_shell, empty_state, page_header
from connections_app.ui.states.audit_log import AuditLogState as A


def _filters() -> rx.Component:
    return rx.hstack(
        rx.input(
            rx.input.slot(rx.icon("plug", size=14)),
            placeholder="Connection",
            value=A.connection_text,
            on_change=lambda v: A.change_filter("connection", v).debounce(300),
            width="200px",
            id="audit-connection",
            aria_label="Filter by connection",
        ),
        rx.input(
            rx.input.slot(rx.icon("user", size=14)),
            placeholder="Actor email",
            value=A.actor_text,
            on_change=lambda v: A.change_filter("actor", v).debounce(300),
            width="200px",
            id="audit-actor",
            aria_label="Filter by actor",
        ),
        rx.select.root(
            rx.select.trigger(placeholder="Action", id="audit-action", min_width="160px"),
            rx.select.content(
                rx.select.item("All actions", value="all"),
                rx.select.separator(),
                *[rx.select.item(label, value=key) for key, label in ACTION_CHOICES],
            ),
            value=A.action,
            on_change=lambda v: A.change_filter("action", v),
        ),
        rx.hstack(
            rx.input(
                type="date",
                value=A.since,
                on_change=lambda v: A.change_filter("since", v),
                aria_label="From date",
                id="audit-since",
            ),
            rx.text("to", size="2", color_scheme="gray"),
            rx.input(
                type="date",
                value=A.until,
                on_change=lambda v: A.change_filter("until", v),
                aria_label="To date",
                id="audit-until",
            ),
            align="center",
            spacing="2",
        ),
        rx.button(
            rx.icon("x", size=14), "Clear", variant="ghost", color_scheme="gray", on_click=A.clear
        ),
        spacing="3",
        wrap="wrap",
        align="center",
        width="100%",
    )


def _table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *[
                    rx.table.column_header_cell(h)
                    for h in ("When", "Actor", "Action", "Target", "Details")
                ]
            )
        ),
        rx.table.body(
            rx.foreach(
                A.rows,
                lambda r: rx.table.row(
                    rx.table.cell(
                        rx.tooltip(rx.text(r["when"], size="2"), content=r["exact"]),
                        white_space="nowrap",
                    ),
                    rx.table.cell(rx.text(r["actor"], size="2")),
                    rx.table.cell(
                        rx.hstack(
                            rx.icon(
                                rx.cond(r["outcome"] == "success", "circle-check", "circle-x"),
                                size=14,
                                color=rx.cond(
                                    r["outcome"] == "success", "var(--green-9)", "var(--red-9)"
                                ),
                            ),
                            rx.text(r["action"], size="2"),
                            spacing="2",
                            align="center",
                        )
                    ),
                    rx.table.cell(rx.text(r["target"], size="2", weight="medium")),
                    rx.table.cell(rx.text(r["summary"], size="2", color_scheme="gray")),
                    align="center",
                ),
            )
        ),
        variant="surface",
        size="2",
        width="100%",
        id="audit-table",
    )


def audit_log_page() -> rx.Component:
    return app_shell(
        page_header(
            "Audit log",
            "Every change to this workspace's connections: append-only and tamper-evident.",
        ),
        rx.cond(
            A.allowed_here,
            rx.vstack(
                _filters(),
                rx.cond(
                    A.error != "",
                    rx.callout(A.error, icon="triangle-alert", color_scheme="red", width="100%"),
                ),
                rx.cond(
                    A.total > 0,
                    rx.vstack(
                        _table(),
                        pager(
                            summary=A.page_summary,
                            on_previous=A.previous_page,
                            on_next=A.next_page,
                            at_first=A.page <= 1,
                            has_next=A.has_next,
                            previous_label="Newer",
                            next_label="Older",
                        ),
                        width="100%",
                        spacing="3",
                    ),
                    rx.cond(  # a refused filter is explained above, not called "no events"
                        A.error == "",
                        empty_state(
                            "scroll-text",
                            "No matching events",
                            "Events appear here as people add, test, rotate and delete "
                            "connections.",
                        ),
                    ),
                ),
                width="100%",
                spacing="4",
            ),
            rx.callout("Only workspace admins can see the audit log.", icon="lock", width="100%"),
        ),
    )
