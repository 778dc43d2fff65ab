"""Details panel and the Edit, Rotate and Delete dialogs of one connection."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.badges import kind_text, status_badge
from connections_app.ui.components.connection_table import (
    app_icon,
    authorized_badge,
    reconnect_link,
)
from connections_app.ui.components.form_parts import (
    close_icon,
    confirm_dialog,
    dialog_actions,
    field_block,
)
from connections_app.ui.formatting import SHARING_LABELS
from connections_app.ui.states.connection_details import (
    DeleteState,
    DetailsState,
    EditState,
    RotateState,
)
from connections_app.ui.states.oauth_connect import OAuthConnectState

D = DetailsState


def _section(title: str, *children: rx.Component) -> rx.Component:
    return rx.vstack(
        rx.text(title, size="1", weight="bold", color_scheme="gray", text_transform="uppercase"),
        *children,
        spacing="2",
        width="100%",
    )


def _pairs(rows: rx.Var) -> rx.Component:
    return rx.data_list.root(
        rx.foreach(
            rows,
            lambda r: rx.data_list.item(
                rx.data_list.label(r["label"], min_width="160px"),
                rx.data_list.value(rx.text(r["value"], size="2", overflow_wrap="anywhere")),
            ),
        ),
        size="2",
        width="100%",
    )


def _can(action: str) -> rx.Var:
    """The core's answer (`ConnectionActions`): nothing here re-decides a rule."""
    return D.actions[action]


def _history() -> rx.Component:
    return rx.cond(
        D.history_hidden,
        rx.text(
            "The history is visible to workspace admins and to people who manage this connection.",
            size="2",
            color_scheme="gray",
        ),
        rx.vstack(
            rx.cond(
                D.history_total == 0,
                rx.text("No events yet.", size="2", color_scheme="gray"),
                rx.vstack(
                    rx.foreach(
                        D.history,
                        lambda e: rx.hstack(
                            rx.icon(
                                rx.cond(e["outcome"] == "success", "circle-check", "circle-x"),
                                size=14,
                                color=rx.cond(
                                    e["outcome"] == "success",
                                    "var(--green-9)",
                                    "var(--red-9)",
                                ),
                                flex_shrink="0",
                                margin_top="3px",
                            ),
                            rx.vstack(
                                rx.text(
                                    rx.text.strong(e["action"]),
                                    " by ",
                                    e["actor"],
                                    size="2",
                                ),
                                rx.cond(
                                    e["summary"] != "",
                                    rx.text(e["summary"], size="1", color_scheme="gray"),
                                ),
                                spacing="0",
                            ),
                            rx.spacer(),
                            rx.tooltip(
                                rx.text(e["when"], size="1", color_scheme="gray"),
                                content=e["exact"],
                            ),
                            width="100%",
                            align="start",
                        ),
                    ),
                    spacing="3",
                    width="100%",
                    id="connection-history",
                ),
            ),
            rx.hstack(
                rx.text(D.history_total.to_string() + " events", size="1", color_scheme="gray"),
                rx.spacer(),
                rx.icon_button(
                    rx.icon("chevron-left", size=14),
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                    on_click=D.history_previous,
                    disabled=D.history_page <= 1,
                    aria_label="Newer events",
                ),
                rx.icon_button(
                    rx.icon("chevron-right", size=14),
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                    on_click=D.history_next,
                    disabled=D.history_page * 8 >= D.history_total,
                    aria_label="Older events",
                ),
                width="100%",
                align="center",
            ),
            width="100%",
        ),
    )


def _embedded_switch() -> rx.Component:
    """F32: shown only when the core says this person may change it (manage level)."""
    explanation = (
        "Clients of this workspace may pick it in the workflows they build in their "
        "portal; they never see its settings or credential."
    )
    return rx.hstack(
        rx.box(
            rx.text("Use for embedded workflows", size="2", weight="medium"),
            rx.text(explanation, size="1", color_scheme="gray"),
        ),
        rx.spacer(),
        rx.switch(
            checked=D.summary["embedded"],
            on_change=D.switch_embedded,
            id="details-embedded",
            aria_label="Use for embedded workflows",
        ),
        width="100%",
        align="center",
        spacing="3",
    )


def details_panel() -> rx.Component:
    s = D.summary
    return rx.drawer.root(
        rx.drawer.overlay(z_index="50"),
        rx.drawer.portal(
            rx.drawer.content(
                rx.vstack(
                    rx.hstack(
                        app_icon(s["app_icon"], s["app_name"], "40px"),
                        rx.vstack(
                            # Title and description are <h2> and <p> themselves: no
                            # heading or paragraph inside them (valid HTML).
                            rx.drawer.title(
                                s["label"],
                                class_name="rt-Heading rt-r-size-5 rt-r-weight-bold",
                                margin="0",
                            ),
                            rx.drawer.description(
                                s["app_name"],
                                class_name="rt-Text rt-r-size-2",
                                color="var(--gray-11)",
                                margin="0",
                            ),
                            spacing="0",
                        ),
                        rx.spacer(),
                        rx.drawer.close(close_icon("Close details")),
                        width="100%",
                        align="center",
                        spacing="3",
                    ),
                    rx.hstack(
                        status_badge(s["status"]),
                        rx.badge(kind_text(s["kind"]), variant="outline", color_scheme="gray"),
                        rx.badge(s["sharing_label"], variant="outline", color_scheme="gray"),
                        authorized_badge(s["authorized_by"], id="details-authorized-by"),
                        spacing="2",
                        wrap="wrap",
                    ),
                    rx.cond(
                        s["notice"] != "",
                        rx.callout(
                            s["notice"],
                            icon=rx.cond(s["notice_ok"], "circle-check", "triangle-alert"),
                            color_scheme=rx.cond(s["notice_ok"], "green", "red"),
                            size="1",
                            width="100%",
                            id="details-test-result",
                            role="status",
                        ),
                    ),
                    rx.hstack(
                        rx.cond(
                            _can("test"),
                            rx.button(
                                rx.cond(D.testing, rx.spinner(size="1"), rx.icon("activity")),
                                "Test connection",
                                size="2",
                                on_click=D.run_test(D.connection_id),
                                disabled=D.testing,
                                id="details-test",
                            ),
                        ),
                        rx.cond(
                            _can("edit"),
                            rx.button(
                                rx.icon("pencil", size=14),
                                "Edit",
                                size="2",
                                variant="soft",
                                on_click=EditState.show(D.connection_id),
                            ),
                        ),
                        rx.cond(
                            _can("rotate"),
                            rx.button(
                                rx.icon("key-round", size=14),
                                "Rotate",
                                size="2",
                                variant="soft",
                                on_click=RotateState.show(D.connection_id),
                            ),
                        ),
                        rx.cond(
                            _can("reconnect"),
                            reconnect_link(s["reconnect_url"], s["label"], id="details-reconnect"),
                        ),
                        rx.cond(
                            _can("refresh"),
                            rx.button(
                                rx.cond(
                                    OAuthConnectState.busy,
                                    rx.spinner(size="1"),
                                    rx.icon("refresh-cw", size=14),
                                ),
                                "Refresh now",
                                size="2",
                                variant="soft",
                                disabled=OAuthConnectState.busy,
                                on_click=OAuthConnectState.refresh_now(D.connection_id),
                                id="details-refresh",
                            ),
                        ),
                        rx.cond(
                            _can("revoke"),
                            rx.button(
                                rx.icon("ban", size=14),
                                "Revoke",
                                size="2",
                                variant="soft",
                                color_scheme="red",
                                on_click=OAuthConnectState.ask_revoke(D.connection_id),
                                id="details-revoke",
                            ),
                        ),
                        rx.cond(
                            _can("delete"),
                            rx.button(
                                rx.icon("trash-2", size=14),
                                "Delete",
                                size="2",
                                variant="soft",
                                color_scheme="red",
                                on_click=DeleteState.show(D.connection_id),
                            ),
                        ),
                        spacing="2",
                        wrap="wrap",
                    ),
                    rx.cond(_can("embed"), _embedded_switch()),
                    rx.divider(),
                    _section(
                        "Credential",
                        rx.data_list.root(
                            rx.data_list.item(
                                rx.data_list.label("Secret", min_width="160px"),
                                rx.data_list.value(rx.code(s["masked_tail"], variant="ghost")),
                            ),
                            rx.data_list.item(
                                rx.data_list.label("Test credential", min_width="160px"),
                                rx.data_list.value(
                                    rx.code(s["test_tail"], variant="ghost", id="details-test-tail")
                                ),
                            ),
                            rx.data_list.item(
                                rx.data_list.label("Stable key", min_width="160px"),
                                rx.data_list.value(rx.code(s["stable_key"], variant="ghost")),
                            ),
                            rx.data_list.item(
                                rx.data_list.label("Scope", min_width="160px"),
                                rx.data_list.value(s["scope"]),
                            ),
                            rx.data_list.item(
                                rx.data_list.label("Created", min_width="160px"),
                                rx.data_list.value(s["created"]),
                            ),
                            rx.data_list.item(
                                rx.data_list.label("Updated", min_width="160px"),
                                rx.data_list.value(s["updated"]),
                            ),
                            size="2",
                        ),
                    ),
                    _section(
                        "Configuration",
                        rx.cond(
                            D.config_hidden,
                            rx.text(
                                "Your access level does not include this connection's "
                                "configuration.",
                                size="2",
                                color_scheme="gray",
                            ),
                            rx.cond(
                                D.config_rows.length() > 0,
                                _pairs(D.config_rows),
                                rx.text(
                                    "No settings besides the secret.", size="2", color_scheme="gray"
                                ),
                            ),
                        ),
                    ),
                    _section("Health", _pairs(D.health_rows)),
                    _section(
                        "Used by",
                        rx.cond(
                            D.usages.length() > 0,
                            rx.vstack(
                                rx.foreach(
                                    D.usages,
                                    lambda u: rx.text(
                                        rx.text.strong(u["workflow"]), " · ", u["node"], size="2"
                                    ),
                                ),
                                spacing="1",
                            ),
                            rx.text(
                                "No workflow nodes use this connection yet.",
                                size="2",
                                color_scheme="gray",
                            ),
                        ),
                    ),
                    _section("History", _history()),
                    spacing="4",
                    width="100%",
                    padding="24px",
                    box_sizing="border-box",
                ),
                top="0",
                right="0",
                left="auto",
                height="100%",
                width="min(520px, 100vw)",
                overflow_y="auto",
                overflow_x="hidden",
                background="var(--color-panel-solid)",
                box_shadow="var(--shadow-5)",
                z_index="51",
                id="details-panel",
            )
        ),
        open=D.open,
        on_open_change=D.open_changed,
        direction="right",
        # Escape and the overlay close it, never a press inside it: vaul reads a click
        # made while the panel still slides in as a swipe away and closed it (a Test
        # pressed right after opening lost the panel).
        handle_only=True,
    )


def _form_error(message: rx.Var) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", width="100%", role="alert"),
    )


def edit_dialog() -> rx.Component:
    E = EditState
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Edit connection"),
            rx.dialog.description(
                "Label, settings and sharing. The credential itself changes with Rotate.",
                size="2",
                color_scheme="gray",
                margin_bottom="16px",
            ),
            rx.form(
                rx.vstack(
                    field_block(
                        "Label",
                        rx.input(
                            name="cx_label",
                            id="edit-label",
                            default_value=E.label,
                            required=True,
                            max_length=120,
                            width="100%",
                        ),
                        html_for="edit-label",
                    ),
                    rx.foreach(
                        E.fields,
                        lambda f: field_block(
                            f["label"],
                            rx.input(
                                name=f["name"],
                                id="edit-" + f["name"],
                                default_value=f["default"],
                                placeholder=f["placeholder"],
                                width="100%",
                            ),
                            html_for="edit-" + f["name"],
                            help_text=f["help"],
                        ),
                    ),
                    rx.cond(
                        E.destination_note != "",
                        rx.callout(
                            E.destination_note,
                            icon="shield-alert",
                            color_scheme="amber",
                            size="1",
                            width="100%",
                            id="edit-destination-note",
                        ),
                    ),
                    rx.foreach(
                        E.reentry_inputs,
                        lambda f: _secret_input(
                            f, "", "edit-secret-", " for the new destination", _REENTRY_HINT
                        ),
                    ),
                    rx.cond(
                        E.test_inputs.length() > 0,
                        rx.el.details(
                            rx.el.summary("Test credentials (optional)", id="edit-test-creds"),
                            rx.foreach(
                                E.test_inputs,
                                lambda f: _secret_input(
                                    f, "cx_test__", "edit-test-", " for test mode", _KEEP_HINT
                                ),
                            ),
                            width="100%",
                        ),
                    ),
                    field_block(
                        "Sharing",
                        rx.select.root(
                            rx.select.trigger(width="100%", id="edit-sharing"),
                            rx.select.content(
                                *[
                                    rx.select.item(SHARING_LABELS[k], value=k)
                                    for k in ("use", "view", "manage", "personal")
                                ]
                            ),
                            name="cx_sharing",
                            default_value=E.sharing,
                        ),
                        html_for="edit-sharing",
                    ),
                    _form_error(E.error),
                    dialog_actions(rx.button("Save changes", type="submit", id="edit-save")),
                    spacing="4",
                    width="100%",
                ),
                on_submit=E.submit,
                key=E.form_key,
            ),
            max_width="520px",
        ),
        open=E.open,
        on_open_change=E.open_changed,
    )


_REENTRY_HINT = "Only if you change the destination"
_KEEP_HINT = "Leave empty to keep the current one"


def _secret_input(
    f: rx.Var, name_prefix: str, id_prefix: str, label_suffix: str, hint: str
) -> rx.Component:
    """An uncontrolled password input: its value is read once on submit, never stored."""
    return field_block(
        f["label"] + label_suffix,
        rx.input(
            name=name_prefix + f["name"],
            id=id_prefix + f["name"],
            type="password",
            auto_complete="off",
            placeholder=hint,
            width="100%",
        ),
        html_for=id_prefix + f["name"],
    )


def rotate_dialog() -> rx.Component:
    R = RotateState
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Rotate credential"),
            rx.dialog.description(
                "Replace the secret of “",
                R.label,
                "” (now ",
                rx.code(R.masked_tail, variant="ghost"),
                "). The old value is destroyed and every node uses the new one from its "
                "next request.",
                size="2",
                color_scheme="gray",
                margin_bottom="16px",
            ),
            rx.form(
                rx.vstack(
                    rx.cond(
                        R.can_set_test,
                        rx.segmented_control.root(
                            rx.segmented_control.item("Live credential", value="live"),
                            rx.segmented_control.item("Test credential", value="test"),
                            value=R.purpose,
                            on_change=R.choose_purpose,
                            width="100%",
                            id="rotate-purpose",
                        ),
                    ),
                    rx.cond(
                        R.purpose == "test",
                        rx.text(
                            "Used only by “Run in test mode”; sealed like the live one. Now: ",
                            rx.cond(
                                R.test_masked_tail != "",
                                rx.code(R.test_masked_tail, variant="ghost"),
                                "none set",
                            ),
                            ".",
                            size="2",
                            color_scheme="gray",
                        ),
                    ),
                    rx.foreach(
                        R.fields,
                        lambda f: field_block(
                            rx.cond(R.purpose == "test", "Test ", "New ") + f["label"],
                            rx.input(
                                name=f["name"],
                                id="rotate-" + f["name"],
                                type="password",
                                placeholder=f["placeholder"],
                                auto_complete="off",
                                required=True,
                                width="100%",
                            ),
                            html_for="rotate-" + f["name"],
                            help_text=f["help"],
                        ),
                    ),
                    _form_error(R.error),
                    dialog_actions(
                        rx.button(
                            "Replace credential",
                            type="submit",
                            color_scheme="amber",
                            id="rotate-save",
                        )
                    ),
                    spacing="4",
                    width="100%",
                ),
                on_submit=R.submit,
                reset_on_submit=True,
                key=R.form_key,
            ),
            max_width="520px",
        ),
        open=R.open,
        on_open_change=R.open_changed,
    )


def delete_dialog() -> rx.Component:
    X = DeleteState
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete “" + X.label + "”?"),
            rx.alert_dialog.description(
                "The credential is destroyed for good. This cannot be undone.",
                size="2",
                color_scheme="gray",
            ),
            rx.box(
                rx.cond(
                    X.usages.length() > 0,
                    # callout.root: `rx.callout(...)` wraps its content in a <p>.
                    rx.callout.root(
                        rx.callout.icon(rx.icon("triangle-alert")),
                        rx.vstack(
                            rx.text(
                                X.usages.length().to_string()
                                + " node(s) use this connection and will break:",
                                weight="medium",
                            ),
                            rx.foreach(
                                X.usages,
                                lambda u: rx.text("• ", u["workflow"], " → ", u["node"], size="2"),
                            ),
                            spacing="1",
                        ),
                        color_scheme="red",
                        width="100%",
                    ),
                    rx.callout(
                        "No workflow uses this connection: nothing will break.",
                        icon="info",
                        color_scheme="gray",
                        width="100%",
                    ),
                ),
                margin_y="16px",
            ),
            _form_error(X.error),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Keep it", variant="soft", color_scheme="gray", id="delete-cancel")
                ),
                rx.button(
                    "Delete connection", color_scheme="red", on_click=X.confirm, id="delete-confirm"
                ),
                justify="end",
                spacing="3",
            ),
            max_width="480px",
        ),
        open=X.open,
        on_open_change=X.open_changed,
    )


def revoke_dialog() -> rx.Component:
    oc = OAuthConnectState
    return confirm_dialog(
        "Revoke “" + oc.revoke_label + "”?",
        oc.revoke_text,
        rx.button(
            rx.cond(oc.busy, rx.spinner(size="1"), rx.icon("ban", size=14)),
            "Revoke access",
            color_scheme="red",
            disabled=oc.busy,
            on_click=oc.confirm_revoke,
            id="revoke-confirm",
        ),
        open=oc.revoke_open,
        on_open_change=oc.revoke_open_changed,
        cancel_label="Keep it",
        cancel_id="revoke-cancel",
    )
