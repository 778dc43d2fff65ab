"""Add connection: a searchable catalog, then the chosen app's own form.

Secret inputs are uncontrolled password fields (no `value`, no `on_change`); the
whole form is read once in `AddConnectionState.submit`. "Test" and "Save" share
the form: Test sets a hidden intent field and submits, so the typed values are
never held anywhere between the two.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from connections_app.ui.components.builder_parts import NATIVE_SELECT_STYLE
from connections_app.ui.components.connection_table import app_icon
from connections_app.ui.components.form_parts import close_icon, field_block, text_button
from connections_app.ui.formatting import SHARING_HELP, SHARING_LABELS
from connections_app.ui.states.add_connection import AddConnectionState as S
from connections_app.ui.states.session import SessionState

FORM_ID = "add-connection-form"


def _submit_as(intent: str) -> str:
    return (
        "(() => { const f = document.getElementById('" + FORM_ID + "');"
        " const i = f.querySelector('input[name=cx_intent]');"
        " i.value = '" + intent + "'; f.requestSubmit(); i.value = 'save'; })()"
    )


_SUBMIT_AS_TEST = _submit_as("test")


def _app_card(card: rx.Var) -> rx.Component:
    return rx.el.button(
        rx.hstack(
            app_icon(card["icon"], card["name"], "36px"),
            rx.vstack(
                rx.hstack(
                    rx.text(card["name"], size="2", weight="medium"),
                    rx.cond(
                        card["oauth_only"],
                        rx.badge("OAuth", variant="soft", color_scheme="gray", size="1"),
                    ),
                    spacing="2",
                    align="center",
                ),
                rx.text(card["description"], size="1", color_scheme="gray", trim="both"),
                spacing="1",
                align="start",
            ),
            spacing="3",
            align="center",
            width="100%",
        ),
        type="button",
        on_click=S.pick_app(card["key"]),
        aria_label=card["name"],
        class_name="cx-app-card",
        style={
            "width": "100%",
            "text_align": "left",
            "padding": "12px",
            "border": "1px solid var(--gray-a5)",
            "border_radius": "10px",
            "background": "var(--color-panel-solid)",
            "cursor": "pointer",
            "_hover": {"background": "var(--accent-a2)", "border_color": "var(--accent-a7)"},
            "_focus_visible": {"outline": "2px solid var(--accent-8)"},
        },
    )


def _catalog_step() -> rx.Component:
    return rx.vstack(
        rx.input(
            rx.input.slot(rx.icon("search", size=16)),
            placeholder="Search apps",
            value=S.app_query,
            on_change=S.search_apps,
            auto_focus=True,
            width="100%",
            id="app-search",
            max_length=60,
        ),
        rx.cond(
            S.visible_apps.length() > 0,
            rx.grid(
                rx.foreach(S.visible_apps, _app_card),
                columns=rx.breakpoints(initial="1", xs="2"),  # one column on a phone
                spacing="3",
                width="100%",
            ),
            rx.center(
                rx.text(
                    "No app matches. Use “Custom API key” for any HTTP API.",
                    size="2",
                    color_scheme="gray",
                ),
                padding="32px",
                width="100%",
            ),
        ),
        spacing="4",
        width="100%",
    )


def _error_for(name: rx.Var | str, state: Any = S) -> rx.Component:
    return rx.cond(
        (state.error_field == name) & (state.error != ""),
        rx.text(state.error, size="1", color_scheme="red", role="alert"),
    )


def _labelled(
    label: rx.Var | str,
    control: rx.Component,
    help_text: rx.Var | str,
    name,
    state: Any = S,
    prefix: str = "add",
) -> rx.Component:
    return field_block(
        label,
        control,
        html_for=f"{prefix}-{name}",
        help_text=help_text,
        error=_error_for(name, state),
    )


def catalog_field(field: rx.Var, state: Any = S, prefix: str = "add") -> rx.Component:
    """One input of an app's catalog form; a secret one is uncontrolled (read on submit).
    `state` has `error`/`error_field` (the core's answer); `prefix` makes ids unique."""
    control = rx.cond(
        field["masked"],
        rx.input(
            name=field["name"],
            id=f"{prefix}-{field['name']}",
            type="password",
            placeholder=field["placeholder"],
            auto_complete="off",
            spell_check=False,
            required=field["required"],
            width="100%",
        ),
        rx.input(
            name=field["name"],
            id=f"{prefix}-{field['name']}",
            default_value=field["default"],
            placeholder=field["placeholder"],
            auto_complete="off",
            spell_check=False,
            required=field["required"],
            width="100%",
        ),
    )
    label = rx.cond(field["masked"], field["label"] + " (secret)", field["label"])
    return _labelled(label, control, field["help"], field["name"], state, prefix)


def _test_field(field: rx.Var) -> rx.Component:
    """F28: an optional test credential, sealed like the live one, never shown back."""
    control = rx.input(
        name="cx_test__" + field["name"],
        id="add-test-" + field["name"],
        type="password",
        auto_complete="off",
        spell_check=False,
        width="100%",
    )
    return _labelled(
        field["label"] + " for test mode (optional)",
        control,
        "Used by “Run in test mode”; leave empty to skip this app's steps there.",
        "test-" + field["name"],
    )


def _small_button(text: str, element_id: str, on_click: Any, gray: bool = False) -> rx.Component:
    style = {"variant": "soft", "color_scheme": "gray"} if gray else {"color_scheme": "red"}
    return rx.button(text, type="button", size="1", id=element_id, on_click=on_click, **style)


def _question() -> rx.Component:
    """The core's question after a failed pre-save test; the person answers."""
    return rx.callout(
        rx.vstack(
            rx.text(S.question, id="add-question"),
            rx.hstack(
                _small_button("Don't save", "add-question-no", S.dismiss_question, gray=True),
                _small_button(
                    "Save anyway", "add-save-anyway", rx.call_script(_submit_as("save_anyway"))
                ),
                spacing="2",
            ),
            spacing="2",
        ),
        icon="triangle-alert",
        color_scheme="amber",
        width="100%",
        role="alertdialog",
    )


def _test_result() -> rx.Component:
    return rx.cond(
        S.question != "",
        _question(),
        _test_result_callout(),
    )


def _test_result_callout() -> rx.Component:
    return rx.cond(
        S.test_message != "",
        rx.callout(
            S.test_message,
            icon=rx.cond(S.test_ok, "circle-check", "circle-x"),
            color_scheme=rx.cond(S.test_ok, "green", "red"),
            width="100%",
            id="add-test-result",
            role="status",
        ),
    )


def _oauth_block() -> rx.Component:
    """Sign in at the provider in a popup; the result comes back to this page."""
    return rx.vstack(
        rx.text(
            "Sign in at ",
            S.app_name,
            " in a popup and allow access. The connection appears here when you do; "
            "no password or token passes through this page.",
            size="2",
            color_scheme="gray",
        ),
        rx.button(
            rx.el.a(
                rx.icon("log-in", size=16),
                "Connect with ",
                S.app_name,
                href=S.oauth_url,
                target="cx-oauth",
                id="oauth-connect",
            ),
            as_child=True,
            size="3",
            width="100%",
        ),
        rx.cond(
            ~S.oauth_only,
            rx.hstack(
                rx.separator(size="4"),
                rx.text("or paste a key", size="1", color_scheme="gray", white_space="nowrap"),
                rx.separator(size="4"),
                align="center",
                width="100%",
                spacing="3",
            ),
        ),
        spacing="3",
        width="100%",
        padding="16px",
        border="1px solid var(--gray-a5)",
        border_radius="10px",
    )


def _popup_link(label: rx.Var | str, href: rx.Var, element_id: str, **props: Any) -> rx.Component:
    """A link that opens the provider's sign-in in the named popup window."""
    return rx.button(
        rx.el.a(rx.icon("log-in", size=16), label, href=href, target="cx-oauth", id=element_id),
        as_child=True,
        **props,
    )


def _custom_oauth_block() -> rx.Component:
    """Custom OAuth 2.0: one of the account's registered providers, then sign in there."""
    none_yet = rx.callout.root(
        rx.callout.icon(rx.icon("info")),
        rx.callout.text(
            "No custom OAuth provider is registered for this account yet. An account admin "
            "registers one on the OAuth apps page",
            rx.cond(
                SessionState.is_account_admin,
                rx.fragment(
                    ": ", rx.link("open OAuth apps", href="/oauth-apps", id="to-oauth-apps")
                ),
            ),
            ".",
        ),
        color_scheme="amber",
        width="100%",
        id="custom-oauth-none",
    )
    chooser = rx.vstack(
        field_block(
            "Provider",
            rx.el.select(
                rx.foreach(S.providers, lambda p: rx.el.option(p["label"], value=p["value"])),
                value=S.provider_id,
                on_change=S.choose_provider,
                id="add-provider",
                style=NATIVE_SELECT_STYLE,
            ),
            html_for="add-provider",
            help_text="Registered by an account admin on the OAuth apps page.",
        ),
        rx.text(
            "Sign in at the provider in a popup and allow access. Connecting the same account "
            "again updates its connection; another account gets a connection of its own.",
            size="2",
            color_scheme="gray",
        ),
        rx.hstack(
            rx.dialog.close(
                rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
            ),
            rx.spacer(),
            _popup_link(
                "Connect another account",
                S.another_url,
                "oauth-connect-another",
                variant="outline",
            ),
            _popup_link("Connect", S.oauth_url, "oauth-connect"),
            width="100%",
            spacing="3",
            wrap="wrap",
        ),
        spacing="3",
        width="100%",
    )
    return rx.cond(S.providers.length() > 0, chooser, none_yet)


def _form_step() -> rx.Component:
    return rx.vstack(
        rx.cond(
            S.for_node == "",
            rx.hstack(
                text_button(
                    "All apps",
                    S.back_to_catalog,
                    icon="arrow-left",
                    color_scheme="gray",
                    size="1",
                    type="button",
                ),
                width="100%",
            ),
            rx.callout(
                "The new connection is selected on “" + S.for_node_label + "” when you save.",
                icon="link",
                size="1",
                width="100%",
            ),
        ),
        rx.hstack(
            app_icon(S.app_icon, S.app_name, "40px"),
            rx.vstack(
                rx.heading(S.app_name, size="4", as_="h3"),
                rx.text(S.app_description, size="2", color_scheme="gray"),
                spacing="0",
            ),
            spacing="3",
            align="center",
        ),
        rx.cond(S.custom_oauth, _custom_oauth_block(), rx.cond(S.oauth_ready, _oauth_block())),
        rx.cond(
            S.oauth_missing & S.oauth_only,
            rx.callout(
                "Sign-in with this app is not set up on this installation yet. An operator "
                "registers its OAuth client with `connections-admin oauth-client set`.",
                icon="info",
                color_scheme="amber",
                width="100%",
            ),
        ),
        rx.cond(
            S.oauth_only,
            rx.fragment(),
            rx.form(
                rx.vstack(
                    rx.cond(
                        S.kinds.length() > 1,
                        rx.segmented_control.root(
                            rx.foreach(
                                S.kinds,
                                lambda k: rx.segmented_control.item(k["label"], value=k["value"]),
                            ),
                            value=S.kind,
                            on_change=S.choose_kind,
                            width="100%",
                        ),
                    ),
                    _labelled(
                        "Label",
                        rx.input(
                            name="cx_label",
                            id="add-label",
                            value=S.label,
                            on_change=S.label_changed.debounce(250),
                            required=True,
                            max_length=120,
                            width="100%",
                        ),
                        "How builders find it, e.g. “Stripe (prod)” or “Stripe EU”.",
                        "label",
                    ),
                    rx.foreach(S.fields, lambda f: catalog_field(f)),
                    rx.cond(
                        S.test_fields.length() > 0,
                        rx.el.details(
                            rx.el.summary("Test credentials (optional)", id="add-test-creds"),
                            rx.vstack(rx.foreach(S.test_fields, _test_field), width="100%"),
                            width="100%",
                        ),
                    ),
                    rx.grid(
                        _labelled(
                            "Stable key",
                            rx.input(
                                name="cx_stable_key",
                                id="add-stable_key",
                                placeholder=S.key_suggestion,
                                max_length=80,
                                width="100%",
                            ),
                            "Exported workflows refer to it by this key; left empty, "
                            "the one shown is used.",
                            "stable_key",
                        ),
                        rx.cond(
                            S.scope == "account",
                            rx.text(
                                "Account connection: it reaches a workspace only through a grant.",
                                size="2",
                                color_scheme="gray",
                            ),
                            _labelled(
                                "Sharing",
                                rx.select.root(
                                    rx.select.trigger(width="100%", id="add-sharing"),
                                    rx.select.content(
                                        *[
                                            rx.select.item(SHARING_LABELS[k], value=k)
                                            for k in ("use", "view", "manage", "personal")
                                        ]
                                    ),
                                    name="cx_sharing",
                                    default_value="use",
                                ),
                                SHARING_HELP["use"],
                                "sharing",
                            ),
                        ),
                        columns="2",
                        spacing="3",
                        width="100%",
                    ),
                    rx.el.input(type="hidden", name="cx_intent", default_value="save"),
                    rx.cond(
                        (S.error != "") & (S.error_field == ""),
                        rx.callout(
                            S.error,
                            icon="triangle-alert",
                            color_scheme="red",
                            width="100%",
                            role="alert",
                        ),
                    ),
                    _test_result(),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.spacer(),
                        rx.button(
                            rx.cond(S.busy == "test", rx.spinner(size="1"), rx.icon("activity")),
                            "Test",
                            type="button",
                            variant="outline",
                            disabled=S.busy != "",
                            on_click=rx.call_script(_SUBMIT_AS_TEST),
                            id="add-test",
                        ),
                        rx.button(
                            rx.cond(S.busy == "save", rx.spinner(size="1"), rx.icon("check")),
                            "Save connection",
                            type="submit",
                            disabled=S.busy != "",
                            id="add-save",
                        ),
                        width="100%",
                        spacing="3",
                    ),
                    spacing="4",
                    width="100%",
                ),
                on_submit=S.submit,
                reset_on_submit=False,
                id=FORM_ID,
                key=S.form_key,
                width="100%",
            ),
        ),
        spacing="4",
        width="100%",
    )


def add_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.hstack(
                rx.dialog.title(
                    rx.cond(
                        S.for_node == "",
                        rx.cond(S.scope == "account", "Add account connection", "Add connection"),
                        "Connect a new account",
                    ),
                    margin="0",
                ),
                # Closable at every step (the catalog and OAuth-only steps have no Cancel).
                rx.dialog.close(close_icon("Close", id="add-close")),
                justify="between",
                align="center",
                width="100%",
                margin_bottom="8px",
            ),
            rx.dialog.description(
                rx.cond(
                    S.step == "pick",
                    "Choose the app. Each connection stores one encrypted credential.",
                    "Secrets are encrypted before they are stored and never shown again.",
                ),
                size="2",
                color_scheme="gray",
                margin_bottom="16px",
            ),
            rx.cond(S.step == "pick", _catalog_step(), _form_step()),
            max_width="640px",
            max_height="85vh",
            overflow_y="auto",
        ),
        open=S.open,
        on_open_change=S.open_changed,
    )
