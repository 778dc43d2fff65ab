"""Small pieces the builder's panels and dialogs share."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.form_parts import field_block


def form_error(text: rx.Var) -> rx.Component:
    return rx.cond(
        text != "",
        rx.callout(text, icon="triangle-alert", color_scheme="red", size="1", role="alert"),
    )


# A native <select>: keyboard-usable as browsers make it, and submitted with its form.
NATIVE_SELECT_STYLE = {
    "width": "100%",
    "height": "32px",
    "padding": "0 8px",
    "border": "1px solid var(--gray-a7)",
    "border_radius": "var(--radius-2)",
    "background": "var(--color-surface)",
    "color": "var(--gray-12)",
    "font_size": "var(--font-size-2)",
}


def param_input(field: rx.Var, prefix: str) -> rx.Component:
    """One action parameter, rendered as the catalog declares it (a select for a fixed
    list, a textarea for a body, else a line of text); the core checks the value."""
    field_id = prefix + field["name"]
    common = {"name": field["name"], "id": field_id, "default_value": field["default"]}
    typed = {
        **common,
        "placeholder": field["placeholder"],
        "required": field["required"],
        "max_length": field["max_length"],
        "width": "100%",
    }
    choices = field["choices"].to(list[str])
    control = rx.cond(
        choices.length() > 0,
        rx.el.select(
            rx.foreach(choices, lambda c: rx.el.option(c, value=c)),
            class_name="cx-native-select",
            style=NATIVE_SELECT_STYLE,
            **common,
        ),
        rx.cond(
            field["multiline"],
            rx.text_area(rows="6", style={"font_family": "var(--code-font-family)"}, **typed),
            rx.input(**typed),
        ),
    )
    return field_block(field["label"], control, html_for=field_id, help_text=field["help"])
