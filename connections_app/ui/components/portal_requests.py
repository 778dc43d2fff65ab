"""The portal's pending requests: connect links the agency sent this client (F24)."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.connection_table import app_icon
from connections_app.ui.states.portal_requests import PortalRequestsState as S


def _request(row: rx.Var) -> rx.Component:
    return rx.card(
        rx.hstack(
            app_icon(row["app_icon"], row["app_name"], "36px"),
            rx.vstack(
                rx.text(row["text"], size="2", weight="medium"),
                rx.text(
                    "Suggested name “",
                    row["label"],
                    "” · expires ",
                    row["expires"],
                    size="1",
                    color_scheme="gray",
                ),
                spacing="1",
                flex="1",
            ),
            rx.button(
                rx.el.a("Connect", href=row["href"], aria_label="Connect " + row["app_name"]),
                as_child=True,
            ),
            align="center",
            spacing="3",
            width="100%",
            wrap="wrap",
        ),
        width="100%",
    )


def pending_requests_section() -> rx.Component:
    return rx.cond(
        S.requests.length() > 0,
        rx.vstack(
            rx.heading("Requests from your agency", size="3", as_="h2"),
            rx.foreach(S.requests, _request),
            width="100%",
            spacing="2",
            id="portal-requests",
        ),
    )
