"""Status and kind badges: one colour per status everywhere in the product."""

from __future__ import annotations

import reflex as rx

STATUS_COLORS = {"active": "green", "pending": "amber", "error": "red", "revoked": "gray"}
KIND_LABELS = {
    "oauth2": "OAuth 2.0",
    "api_key": "API key",
    "basic": "Basic auth",
    "dsn": "DSN",
    "custom": "Custom",
}


def status_badge(status: rx.Var[str]) -> rx.Component:
    return rx.match(
        status,
        *[
            (name, rx.badge(name.capitalize(), color_scheme=color, variant="soft", radius="full"))
            for name, color in STATUS_COLORS.items()
        ],
        rx.badge(status, variant="soft", radius="full"),
    )


def kind_label(kind: rx.Var[str]) -> rx.Component:
    return rx.match(
        kind,
        *[(k, rx.text(v, size="2")) for k, v in KIND_LABELS.items()],
        rx.text(kind, size="2"),
    )


def kind_text(kind: rx.Var[str]) -> rx.Var:
    """The kind's label as a string Var (for use inside badges and sentences)."""
    return rx.match(kind, *[(k, v) for k, v in KIND_LABELS.items()], kind)


def card_page(content: rx.Component, **card_props: object) -> rx.Component:
    """A page that is one card on the brand gradient (sign-in, 404): no sidebar."""
    return rx.center(
        rx.card(content, size="4", width="min(420px, calc(100vw - 32px))", **card_props),
        min_height="100vh",
        background="linear-gradient(180deg, var(--accent-a2), var(--gray-a1))",
    )


def icon_tile(icon: str, size: int, *, solid: bool = False) -> rx.Component:
    """An icon on a rounded square: the brand mark (solid) or an empty state's (soft)."""
    return rx.center(
        rx.icon(icon, size=size // 2, color="white" if solid else "var(--accent-11)"),
        background="var(--accent-9)" if solid else "var(--accent-a3)",
        width=f"{size}px",
        height=f"{size}px",
        min_width=f"{size}px",
        border_radius=f"{size // 4}px",
    )
