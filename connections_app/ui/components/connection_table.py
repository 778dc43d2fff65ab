"""The connections table shared by the Integrations, LLM Keys and portal pages."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.badges import kind_label, status_badge


def _app_cell(row: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.image(
            src=row["app_icon"],
            width="28px",
            height="28px",
            border_radius="6px",
            alt=row["app_name"],
        ),
        rx.vstack(
            rx.text(row["label"], size="2", weight="medium"),
            rx.text(row["app_name"], size="1", color_scheme="gray"),
            spacing="0",
        ),
        spacing="3",
        align="center",
    )


def connection_table(rows: rx.Var, *, show_usage: bool = True) -> rx.Component:
    headers = ["Connection", "Kind", "Status", "Credential", "Scope"]
    if show_usage:
        headers += ["Last used", "Uses"]

    def row(r: rx.Var) -> rx.Component:
        cells = [
            rx.table.cell(_app_cell(r)),
            rx.table.cell(kind_label(r["kind"])),
            rx.table.cell(
                rx.tooltip(rx.box(status_badge(r["status"])), content=r["status_reason"])
            ),
            rx.table.cell(rx.code(r["masked_tail"], variant="ghost")),
            rx.table.cell(rx.text(r["scope"], size="2")),
        ]
        if show_usage:
            cells += [
                rx.table.cell(rx.text(r["last_used"], size="2", color_scheme="gray")),
                rx.table.cell(rx.text(r["use_count"], size="2")),
            ]
        return rx.table.row(*cells, align="center")

    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
        rx.table.body(rx.foreach(rows, row)),
        variant="surface",
        size="2",
        width="100%",
    )
