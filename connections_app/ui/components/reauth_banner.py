"""The reauthorization banner (F21), shown at the top of every workspace page."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.connection_table import app_icon, reconnect_link
from connections_app.ui.states.reauth_banner import ReauthBannerState

B = ReauthBannerState


def _row(item: rx.Var) -> rx.Component:
    return rx.hstack(
        app_icon(item["app_icon"], item["app_name"], "28px"),
        rx.vstack(
            rx.text(item["label"], size="2", weight="medium"),
            rx.text(item["reason"], size="1", color_scheme="gray"),
            spacing="0",
            flex="1",
        ),
        rx.cond(
            item["reconnect_url"] != "",
            reconnect_link(item["reconnect_url"], item["label"], size="1", variant="solid"),
            rx.text("Ask a workspace admin to reconnect it.", size="1", color_scheme="gray"),
        ),
        align="center",
        spacing="3",
        width="100%",
    )


def reauth_banner() -> rx.Component:
    return rx.fragment(
        rx.box(on_mount=B.load, display="none"),
        rx.cond(
            B.items.length() > 0,
            rx.box(
                rx.hstack(
                    rx.icon("triangle-alert", size=18, color="var(--amber-11)"),
                    rx.text(B.headline, weight="medium", color="var(--amber-12)", size="2"),
                    rx.spacer(),
                    rx.button(
                        rx.cond(B.expanded, "Hide", "Show"),
                        variant="soft",
                        color_scheme="amber",
                        size="1",
                        on_click=B.toggle,
                        aria_expanded=B.expanded,
                        id="reauth-toggle",
                    ),
                    align="center",
                    width="100%",
                    spacing="2",
                ),
                rx.cond(
                    B.expanded,
                    rx.vstack(
                        rx.foreach(B.items, _row),
                        spacing="2",
                        width="100%",
                        padding_top="12px",
                    ),
                ),
                role="alert",
                id="reauth-banner",
                width="100%",
                padding="12px 16px",
                border_radius="10px",
                background="var(--amber-a3)",
                border="1px solid var(--amber-a6)",
            ),
        ),
    )
