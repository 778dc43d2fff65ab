"""The connections table shared by the Integrations, LLM Keys and portal pages."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.badges import kind_label, status_badge
from connections_app.ui.states.connection_details import (
    DeleteState,
    DetailsState,
    EditState,
    RotateState,
)


def app_icon(src: rx.Var | str, name: rx.Var | str, size: str = "32px") -> rx.Component:
    return rx.image(src=src, width=size, height=size, min_width=size, border_radius="8px", alt=name)


def authorized_badge(line: rx.Var, **props: object) -> rx.Component:
    """ "Authorized by <client>" (F24) when the read-model names one; nothing otherwise."""
    badge = rx.badge(
        rx.icon("user-check", size=12), line, color_scheme="teal", variant="soft", **props
    )
    return rx.cond(line != "", badge)


def reconnect_link(
    url: rx.Var, label: rx.Var, *, size: str = "2", variant: str = "soft", **props: object
) -> rx.Component:
    """Reconnect in the OAuth popup (`cx-oauth`): a link styled as a button."""
    return rx.button(
        rx.el.a(
            rx.icon("log-in", size=14),
            "Reconnect",
            href=url,
            target="cx-oauth",
            aria_label="Reconnect " + label.to(str),
            **props,
        ),
        as_child=True,
        size=size,
        variant=variant,
    )


def _app_cell(row: rx.Var, clickable: bool) -> rx.Component:
    title = rx.text(row["label"], size="2", weight="medium", trim="both")
    return rx.hstack(
        app_icon(row["app_icon"], row["app_name"]),
        rx.vstack(
            (
                rx.link(
                    title,
                    href="#",
                    on_click=DetailsState.show(row["id"]).prevent_default,
                    color_scheme="gray",
                    high_contrast=True,
                    underline="hover",
                )
                if clickable
                else title
            ),
            rx.hstack(
                rx.text(row["app_name"], size="1", color_scheme="gray"),
                rx.cond(
                    row["embedded"],
                    rx.badge(
                        "Embedded",
                        size="1",
                        variant="soft",
                        color_scheme="cyan",
                        title="Used for embedded workflows: clients may pick it in the portal",
                        class_name="cx-embedded-badge",
                    ),
                ),
                spacing="2",
                align="center",
            ),
            authorized_badge(row["authorized_by"], size="1", class_name="authorized-by"),
            spacing="1",
        ),
        spacing="3",
        align="center",
    )


def _can(row: rx.Var, action: str) -> rx.Var:
    """The core's answer (`ConnectionActions`): nothing here re-decides a rule."""
    return row["actions"][action]


def _actions(row: rx.Var) -> rx.Component:
    return rx.dropdown_menu.root(
        rx.dropdown_menu.trigger(
            rx.icon_button(
                rx.icon("ellipsis", size=16),
                variant="ghost",
                color_scheme="gray",
                aria_label=f"Actions for {row['label']}",
            )
        ),
        rx.dropdown_menu.content(
            rx.dropdown_menu.item(
                rx.icon("panel-right-open", size=14),
                "Details",
                on_select=DetailsState.show(row["id"]),
            ),
            rx.cond(
                _can(row, "test"),
                rx.dropdown_menu.item(
                    rx.icon("activity", size=14),
                    "Test connection",
                    on_select=DetailsState.run_test(row["id"]),
                ),
            ),
            rx.cond(
                _can(row, "edit"),
                rx.dropdown_menu.item(
                    rx.icon("pencil", size=14), "Edit", on_select=EditState.show(row["id"])
                ),
            ),
            rx.cond(
                _can(row, "rotate"),
                rx.dropdown_menu.item(
                    rx.icon("key-round", size=14),
                    "Rotate credential",
                    on_select=RotateState.show(row["id"]),
                ),
            ),
            rx.cond(
                _can(row, "delete"),
                rx.fragment(
                    rx.dropdown_menu.separator(),
                    rx.dropdown_menu.item(
                        rx.icon("trash-2", size=14),
                        "Delete",
                        color="red",
                        on_select=DeleteState.show(row["id"]),
                    ),
                ),
            ),
            align="end",
        ),
    )


def connection_table(
    rows: rx.Var, *, show_usage: bool = True, show_actions: bool = False
) -> rx.Component:
    headers = ["Connection", "Kind", "Status", "Credential", "Sharing"]
    if show_usage:
        headers += ["Last used", "Uses", "Expires"]
    if show_actions:
        headers.append("")

    def row(r: rx.Var) -> rx.Component:
        cells = [
            rx.table.row_header_cell(_app_cell(r, show_actions)),
            rx.table.cell(kind_label(r["kind"])),
            rx.table.cell(
                rx.cond(
                    r["status_reason"] != "",
                    rx.tooltip(rx.box(status_badge(r["status"])), content=r["status_reason"]),
                    status_badge(r["status"]),
                )
            ),
            rx.table.cell(rx.code(r["masked_tail"], variant="ghost", color_scheme="gray")),
            rx.table.cell(
                rx.cond(
                    r["granted_by"] != "",
                    rx.badge(r["scope"], color_scheme="violet", variant="soft"),
                    rx.text(r["sharing_label"], size="2"),
                )
            ),
        ]
        if show_usage:
            cells += [
                rx.table.cell(rx.text(r["last_used"], size="2", color_scheme="gray")),
                rx.table.cell(rx.text(r["use_count"], size="2")),
                rx.table.cell(rx.text(r["expires"], size="2", color_scheme="gray")),
            ]
        if show_actions:
            cells.append(rx.table.cell(_actions(r), text_align="right"))
        return rx.table.row(*cells, align="center", id=f"row-{r['id']}")

    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
        rx.table.body(rx.foreach(rows, row)),
        variant="surface",
        size="2",
        width="100%",
        id="connections-table",
    )
