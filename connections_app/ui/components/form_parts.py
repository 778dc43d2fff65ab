"""Building blocks every form in the app shares, so labels, help text, errors and the
Cancel/confirm row look and behave the same in each dialog."""

from __future__ import annotations

import reflex as rx


def field_block(
    label: rx.Var | str,
    control: rx.Component,
    *,
    html_for: rx.Var | str,
    help_text: rx.Var | str | None = None,
    error: rx.Component | None = None,
) -> rx.Component:
    """A labelled control; the label's `for` makes it clickable and names it for screen readers."""
    parts: list[rx.Component] = [
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=html_for),
        control,
    ]
    if help_text is not None:
        parts.append(rx.cond(help_text != "", rx.text(help_text, size="1", color_scheme="gray")))
    if error is not None:
        parts.append(error)
    return rx.vstack(*parts, spacing="1", width="100%")


def close_icon(label: str, **props: object) -> rx.Component:
    """The × in a dialog's or drawer's corner (wrap it in that dialog's `close`)."""
    return rx.icon_button(
        rx.icon("x", size=16),
        variant="ghost",
        color_scheme="gray",
        type="button",
        aria_label=label,
        **props,
    )


def dialog_actions(*actions: rx.Component, cancel_label: str = "Cancel") -> rx.Component:
    """Cancel (or Close) first, the confirming action(s) last, right-aligned."""
    return rx.hstack(
        rx.dialog.close(
            rx.button(cancel_label, variant="soft", color_scheme="gray", type="button")
        ),
        *actions,
        justify="end",
        width="100%",
        spacing="3",
    )


def confirm_dialog(
    title: rx.Var | str,
    body: rx.Var | str,
    confirm: rx.Component,
    *,
    open: rx.Var,
    on_open_change: rx.EventHandler,
    cancel_label: str = "Cancel",
    cancel_id: str | None = None,
    max_width: str = "480px",
) -> rx.Component:
    """Ask before something destructive: what happens, Cancel first, the red action last."""
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(body, size="2", color_scheme="gray"),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button(cancel_label, variant="soft", color_scheme="gray", id=cancel_id)
                ),
                confirm,
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
            max_width=max_width,
        ),
        open=open,
        on_open_change=on_open_change,
    )


def pager(
    *,
    summary: rx.Var,
    on_previous: rx.EventHandler,
    on_next: rx.EventHandler,
    at_first: rx.Var,
    has_next: rx.Var,
    previous_label: str = "Previous",
    next_label: str = "Next",
) -> rx.Component:
    """ "1–25 of 5,000" with previous/next; the server holds the page, the browser only asks."""
    return rx.hstack(
        rx.text(summary, size="2", color_scheme="gray"),
        rx.spacer(),
        rx.button(
            rx.icon("chevron-left", size=14),
            previous_label,
            variant="soft",
            color_scheme="gray",
            on_click=on_previous,
            disabled=at_first,
        ),
        rx.button(
            next_label,
            rx.icon("chevron-right", size=14),
            variant="soft",
            color_scheme="gray",
            on_click=on_next,
            disabled=~has_next,
        ),
        width="100%",
        align="center",
    )


def dialog_description(
    *parts: rx.Component | rx.Var | str, margin_bottom: str = "12px"
) -> rx.Component:
    """The grey line under a dialog's title that says what the dialog will do."""
    return rx.dialog.description(*parts, size="2", color_scheme="gray", margin_bottom=margin_bottom)


def dialog(
    title: rx.Component | rx.Var | str,
    *children: rx.Component,
    open: rx.Var,
    on_open_change: rx.EventHandler,
    max_width: str = "480px",
    **content_props: object,
) -> rx.Component:
    """A dialog whose open flag lives in one state, so Escape, the overlay and the
    handlers all close it the same way."""
    heading = rx.dialog.title(title) if isinstance(title, (rx.Var, str)) else title
    return rx.dialog.root(
        rx.dialog.content(heading, *children, max_width=max_width, **content_props),
        open=open,
        on_open_change=on_open_change,
    )


def text_button(
    label: rx.Var | str,
    on_click: object,
    *,
    icon: str | None = None,
    variant: str = "ghost",
    **props: object,
) -> rx.Component:
    """A labelled button with an optional leading icon (Clear, Import, Add node, All apps);
    quiet (ghost) unless the caller says otherwise."""
    leading = [rx.icon(icon, size=14)] if icon else []
    return rx.button(*leading, label, variant=variant, on_click=on_click, **props)
