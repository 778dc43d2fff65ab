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
