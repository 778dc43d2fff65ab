"""OAuth apps (F27): the account's OAuth client registrations — catalog apps with the
account's own client, and custom providers — for account admins.

The client secret input is a password field with no value and no handler: it is read
once when the form is submitted. Only the masked tail the core returns is shown.
"""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.builder_parts import NATIVE_SELECT_STYLE
from connections_app.ui.components.form_parts import (
    dialog,
    dialog_actions,
    dialog_description,
    field_block,
)
from connections_app.ui.components.layout import app_shell, empty_state, page_header
from connections_app.ui.states.oauth_apps import TOKEN_AUTH_CHOICES
from connections_app.ui.states.oauth_apps import OAuthAppsState as S

FORM_ID = "oauth-app-form"
_DISCOVER = (
    "(() => { const f = document.getElementById('" + FORM_ID + "');"
    " const i = f.querySelector('input[name=cx_intent]');"
    " i.value = 'discover'; f.requestSubmit(); i.value = 'save'; })()"
)


def _error_for(name: str) -> rx.Component:
    return rx.cond(
        (S.error_field == name) & (S.error != ""),
        rx.text(S.error, size="1", color_scheme="red", role="alert", id=f"oa-error-{name}"),
    )


def _text(name: str, label: str, help_text: str = "", placeholder: str = "") -> rx.Component:
    control = rx.input(
        name=name,
        id=f"oa-{name}",
        default_value=S.draft[name],
        placeholder=placeholder,
        auto_complete="off",
        spell_check=False,
        max_length=512,
        width="100%",
        aria_invalid=rx.cond(S.error_field == name, "true", "false"),
    )
    return field_block(
        label, control, html_for=f"oa-{name}", help_text=help_text, error=_error_for(name)
    )


def _checkbox(name: str, label: str, help_text: str) -> rx.Component:
    return rx.vstack(
        rx.el.label(
            rx.hstack(
                rx.el.input(
                    type="checkbox",
                    name=name,
                    id=f"oa-{name}",
                    default_checked=S.draft[name] == "on",
                ),
                rx.text(label, size="2", weight="medium"),
                spacing="2",
                align="center",
            ),
            html_for=f"oa-{name}",
        ),
        rx.text(help_text, size="1", color_scheme="gray"),
        spacing="1",
        width="100%",
    )


def _client_auth() -> rx.Component:
    control = rx.el.select(
        *[rx.el.option(c.label, value=c.value) for c in TOKEN_AUTH_CHOICES],
        name="token_auth_method",
        id="oa-token_auth_method",
        default_value=S.draft["token_auth_method"],
        style=NATIVE_SELECT_STYLE,
    )
    return field_block(
        "Client authentication",
        control,
        html_for="oa-token_auth_method",
        help_text="How the client proves itself at the token endpoint.",
        error=_error_for("token_auth_method"),
    )


def _extra_params() -> rx.Component:
    return rx.el.fieldset(
        rx.el.legend(rx.text("Extra authorize parameters (optional)", size="2", weight="medium")),
        rx.grid(
            *[
                rx.vstack(
                    rx.el.label(rx.text(key, size="1"), html_for=f"oa-extra-{key}"),
                    rx.input(
                        name=f"extra__{key}",
                        id=f"oa-extra-{key}",
                        default_value=S.draft_extra[key],
                        placeholder=hint,
                        max_length=200,
                        width="100%",
                    ),
                    spacing="1",
                )
                for key, hint in (
                    ("prompt", "consent"),
                    ("audience", "https://api.example.com"),
                    ("access_type", "offline"),
                    ("resource", "https://api.example.com"),
                )
            ],
            columns="2",
            spacing="2",
            width="100%",
        ),
        _error_for("extra_params"),
        style={"border": "1px solid var(--gray-a5)", "border_radius": "8px", "padding": "8px"},
    )


def _provider_fields() -> rx.Component:
    """A custom provider's endpoints and identity rule."""
    return rx.vstack(
        _text("name", "Name", "What members pick when they connect, e.g. “Acme ID”."),
        rx.hstack(
            rx.box(
                _text(
                    "issuer",
                    "Issuer URL (OpenID Connect)",
                    "Discover reads its /.well-known/openid-configuration and fills the "
                    "endpoints; or enter them by hand below.",
                    "https://id.example.com",
                ),
                flex="1",
            ),
            rx.button(
                rx.cond(S.busy == "discover", rx.spinner(size="1"), rx.icon("search", size=14)),
                "Discover",
                type="button",
                variant="outline",
                on_click=rx.call_script(_DISCOVER),
                disabled=S.busy != "",
                id="oa-discover",
                margin_top="24px",
            ),
            width="100%",
            align="start",
            spacing="2",
        ),
        rx.cond(
            S.notice != "",
            rx.callout(
                S.notice,
                icon="circle-check",
                color_scheme="green",
                size="1",
                width="100%",
                role="status",
                id="oa-notice",
            ),
        ),
        _text("authorize_url", "Authorize URL", placeholder="https://id.example.com/authorize"),
        _text("token_url", "Token URL", placeholder="https://id.example.com/token"),
        _text("revocation_url", "Revocation URL (optional)", "Revoke tells the provider here."),
        _text("userinfo_url", "Userinfo URL (optional)", "Who signed in, and the default test."),
        _text("jwks_url", "JWKS URL (optional)", "Keys that sign the provider's ID tokens."),
        _checkbox(
            "iss_required",
            "Require the iss parameter (RFC 9207)",
            "Refuse an authorization response without the issuer's iss.",
        ),
        rx.grid(
            _text("identity_field", "Identity field", "Empty: the OpenID Connect “sub”.", "sub"),
            _text("name_field", "Display-name field", "Names a new connection.", "email"),
            columns="2",
            spacing="3",
            width="100%",
        ),
        rx.grid(
            _text("api_base_url", "API base URL", "Where requests go.", "https://api.example.com"),
            _text("test_path", "Test path", "Empty: the userinfo path.", "/userinfo"),
            columns="2",
            spacing="3",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


def _secret_field() -> rx.Component:
    control = rx.input(
        name="client_secret",
        id="oa-client_secret",
        type="password",
        auto_complete="new-password",
        spell_check=False,
        max_length=1024,
        width="100%",
        placeholder=rx.cond(S.editing_id != "", "Leave empty to keep " + S.kept_tail, ""),
    )
    return field_block(
        "Client secret (write-only)",
        control,
        html_for="oa-client_secret",
        help_text="Encrypted when saved and never shown again; only its last characters are.",
        error=_error_for("client_secret"),
    )


def _general_error() -> rx.Component:
    known = [
        "name", "issuer", "authorize_url", "token_url", "revocation_url", "userinfo_url",
        "jwks_url", "scopes", "identity_field", "name_field", "test_path", "api_base_url",
        "client_id", "client_secret", "token_auth_method", "extra_params",
    ]  # fmt: skip
    unplaced = S.error != ""
    for name in known:
        unplaced = unplaced & (S.error_field != name)
    return rx.cond(
        unplaced,
        rx.callout(
            S.error,
            icon="triangle-alert",
            color_scheme="red",
            width="100%",
            role="alert",
            id="oa-error",
        ),
    )


def _app_choice() -> rx.Component:
    return field_block(
        "App",
        rx.el.select(
            rx.foreach(S.registrable, lambda c: rx.el.option(c["label"], value=c["value"])),
            value=S.draft_app,
            on_change=S.choose_app,
            name="cx_app",
            id="oa-app",
            style=NATIVE_SELECT_STYLE,
        ),
        html_for="oa-app",
        help_text="A catalog app's own client for this account, or a custom provider.",
    )


def editor_dialog() -> rx.Component:
    return dialog(
        rx.cond(S.editing_id == "", "Add an OAuth app", "Edit “" + S.editing_name + "”"),
        dialog_description(
            "Every workspace's connections of this app sign in through it and hold only their "
            "own tokens."
        ),
        rx.form(
            rx.vstack(
                rx.cond(S.editing_id == "", _app_choice()),
                rx.vstack(
                    rx.cond(S.draft_custom, _provider_fields()),
                    _text("client_id", "Client ID"),
                    _text("scopes", "Scopes", "Space-separated.", "openid profile email"),
                    _extra_params(),
                    _client_auth(),
                    _checkbox("pkce", "PKCE (S256)", "On unless the provider rejects it."),
                    key=S.draft_key,
                    spacing="3",
                    width="100%",
                ),
                _secret_field(),
                rx.cond(
                    S.used_by.length() > 0,
                    rx.text("Used by: ", S.used_by.join(", "), size="1", color_scheme="gray"),
                ),
                rx.el.input(type="hidden", name="cx_intent", default_value="save"),
                _general_error(),
                dialog_actions(
                    rx.button(
                        rx.cond(S.busy == "save", rx.spinner(size="1"), rx.icon("check")),
                        "Save",
                        type="submit",
                        disabled=S.busy != "",
                        id="oa-save",
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=S.submit,
            reset_on_submit=False,
            id=FORM_ID,
            key=S.form_key,
        ),
        open=S.editor_open,
        on_open_change=S.editor_open_changed,
        max_width="640px",
        max_height="88vh",
        overflow_y="auto",
    )


def rotate_dialog() -> rx.Component:
    return dialog(
        "Rotate the client secret of “" + S.target_name + "”",
        dialog_description(
            "Paste the new secret from the provider. Every connection of this app uses it from "
            "its next refresh or revoke; none needs reconnecting."
        ),
        rx.form(
            rx.vstack(
                _secret_field(),
                _general_error(),
                dialog_actions(
                    rx.button(
                        rx.cond(S.busy == "rotate", rx.spinner(size="1"), rx.icon("refresh-cw")),
                        "Rotate secret",
                        type="submit",
                        disabled=S.busy != "",
                        id="oa-rotate-confirm",
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=S.rotate,
            reset_on_submit=True,
            key=S.form_key,
        ),
        open=S.rotate_open,
        on_open_change=S.rotate_open_changed,
    )


def delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete “" + S.target_name + "”?"),
            rx.alert_dialog.description(
                "Its client registration is removed from this account.",
                size="2",
                color_scheme="gray",
            ),
            rx.box(
                rx.cond(
                    S.target_used_by.length() > 0,
                    rx.callout.root(
                        rx.callout.icon(rx.icon("triangle-alert")),
                        rx.vstack(
                            rx.text(
                                S.target_used_by.length().to_string()
                                + " connection(s) hold tokens issued through it; revoke or "
                                "delete them first:",
                                weight="medium",
                            ),
                            rx.foreach(S.target_used_by, lambda u: rx.text("• ", u, size="2")),
                            spacing="1",
                        ),
                        color_scheme="red",
                        width="100%",
                    ),
                    rx.callout(
                        "No connection uses it.", icon="info", color_scheme="gray", width="100%"
                    ),
                ),
                margin_y="16px",
            ),
            rx.cond(
                S.error != "",
                rx.callout(
                    S.error,
                    icon="triangle-alert",
                    color_scheme="red",
                    role="alert",
                    width="100%",
                    margin_bottom="12px",
                ),
            ),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Keep it", variant="soft", color_scheme="gray", id="oa-delete-cancel")
                ),
                rx.button(
                    "Delete OAuth app",
                    color_scheme="red",
                    on_click=S.confirm_delete,
                    id="oa-delete-confirm",
                ),
                justify="end",
                spacing="3",
            ),
            max_width="480px",
        ),
        open=S.delete_open,
        on_open_change=S.delete_open_changed,
    )


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.vstack(
                rx.text(row["name"], weight="medium"),
                rx.text(
                    rx.cond(row["is_custom"], "Custom provider", row["app_name"]),
                    size="1",
                    color_scheme="gray",
                ),
                spacing="0",
            )
        ),
        rx.table.cell(rx.text(row["where"], size="2", trim="both")),
        rx.table.cell(rx.code(row["client_id"], size="1")),
        rx.table.cell(rx.text(row["masked"], size="2")),
        rx.table.cell(rx.text(row["used"], size="2")),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    "Edit",
                    size="1",
                    variant="soft",
                    on_click=S.open_edit(row["id"]),
                    aria_label="Edit " + row["name"],
                ),
                rx.button(
                    "Rotate secret",
                    size="1",
                    variant="soft",
                    on_click=S.ask_rotate(row["id"]),
                    aria_label="Rotate the client secret of " + row["name"],
                ),
                rx.button(
                    "Delete",
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=S.ask_delete(row["id"]),
                    aria_label="Delete " + row["name"],
                ),
                spacing="2",
            )
        ),
        data_id=row["id"],
    )


def _table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *[
                    rx.table.column_header_cell(h)
                    for h in ("App", "Provider", "Client ID", "Client secret", "Used by", "")
                ]
            )
        ),
        rx.table.body(rx.foreach(S.items, _row)),
        width="100%",
        id="oauth-apps-table",
    )


def oauth_apps_page() -> rx.Component:
    add = rx.button(rx.icon("plus", size=16), "Add OAuth app", on_click=S.open_new, id="oa-add")
    return app_shell(
        page_header(
            "OAuth apps",
            "The account's OAuth client registrations: every workspace's connections of an app "
            "sign in through them.",
            rx.cond(S.denied == "", add),
        ),
        rx.cond(
            S.denied != "",
            rx.callout(S.denied, icon="lock", width="100%"),
            rx.cond(
                S.items.length() > 0,
                _table(),
                empty_state(
                    "key-round",
                    "No OAuth apps yet",
                    "Register your own client for a catalog app (it replaces the "
                    "installation's), or a custom OAuth 2.0 / OpenID Connect provider your "
                    "members can then connect to.",
                ),
            ),
        ),
        editor_dialog(),
        rotate_dialog(),
        delete_dialog(),
    )
