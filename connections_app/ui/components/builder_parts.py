"""Small pieces the builder's panels and dialogs share."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.form_parts import field_block


def form_error(text: rx.Var) -> rx.Component:
    return rx.cond(
        text != "",
        rx.callout(text, icon="triangle-alert", color_scheme="red", size="1", role="alert"),
    )


def param_input(field: rx.Var, prefix: str) -> rx.Component:
    field_id = prefix + field["name"]
    return field_block(
        field["label"],
        rx.input(
            name=field["name"],
            id=field_id,
            default_value=field["default"],
            placeholder=field["placeholder"],
            required=field["required"],
            max_length=2000,
            width="100%",
        ),
        html_for=field_id,
    )
