"""404: says so, and offers the way back (sign-in, or the person's start page)."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.badges import card_page, icon_tile
from connections_app.ui.states.not_found import NotFoundState

_WHY = "There is nothing at this address. It may have moved, or the link is wrong."


def _back() -> rx.Component:
    """A plain <a> (a full page load), so every page state starts over."""
    label, href = NotFoundState.back_label, NotFoundState.back_href
    arrow = rx.icon("arrow-left", size=14)
    return rx.button(rx.el.a(arrow, label, href=href, id="not-found-back"), as_child=True, size="3")


def not_found_page() -> rx.Component:
    return card_page(
        rx.vstack(
            icon_tile("map-pin-off", 48),
            rx.heading("Page not found", size="5"),
            rx.text(_WHY, size="2", color_scheme="gray", text_align="center"),
            _back(),
            align="center",
            spacing="4",
        ),
        id="not-found",
    )
