"""The People section of the Clients page: client users and their invitations.

The invitation link is written into a read-only, uncontrolled input by the invite
handler's `set_value` event (it is never a state var); Copy reads it from there.
"""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.form_parts import (
    confirm_dialog,
    dialog,
    dialog_actions,
    dialog_description,
    field_block,
)
from connections_app.ui.components.layout import empty_state
from connections_app.ui.states.client_people import LINK_INPUT_ID
from connections_app.ui.states.client_people import ClientPeopleState as S

STATE_COLORS = {"pending": "amber", "used": "green", "expired": "gray", "revoked": "red"}
_COPY = (
    "(() => { const i = document.getElementById('" + LINK_INPUT_ID + "'); if (!i) return;"
    " i.select(); (navigator.clipboard ? navigator.clipboard.writeText(i.value)"
    " : Promise.reject()).catch(() => document.execCommand('copy')); })()"
)


def _state_badge(state: rx.Var[str], label: rx.Var[str]) -> rx.Component:
    return rx.match(
        state,
        *[
            (name, rx.badge(label, color_scheme=color, variant="soft", radius="full"))
            for name, color in STATE_COLORS.items()
        ],
        rx.badge(label, variant="soft", radius="full"),
    )


def _error_for(name: str) -> rx.Component:
    return rx.cond(
        (S.error_field == name) & (S.error != ""),
        rx.text(S.error, size="1", color_scheme="red", role="alert", id=f"invite-error-{name}"),
    )


def _invite_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            field_block(
                "Email",
                rx.input(
                    name="email",
                    id="invite-email",
                    type="email",
                    required=True,
                    max_length=254,
                    auto_complete="off",
                    width="100%",
                    aria_invalid=rx.cond(S.error_field == "email", "true", "false"),
                ),
                html_for="invite-email",
                error=_error_for("email"),
            ),
            field_block(
                "Name (optional)",
                rx.input(name="name", id="invite-name", max_length=120, width="100%"),
                html_for="invite-name",
                help_text="Filled in for them on the invitation page; they may change it.",
                error=_error_for("name"),
            ),
            rx.cond(
                (S.error != "") & (S.error_field != "email") & (S.error_field != "name"),
                rx.callout(
                    S.error, icon="triangle-alert", color_scheme="red", role="alert", width="100%"
                ),
            ),
            dialog_actions(
                rx.button(
                    rx.cond(S.busy, rx.spinner(size="1"), rx.icon("send", size=14)),
                    "Create invitation link",
                    type="submit",
                    disabled=S.busy,
                    id="invite-submit",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=S.invite,
        reset_on_submit=False,
        key=S.form_key,
        display=rx.cond(S.link_shown, "none", "block"),
    )


def _link_panel() -> rx.Component:
    """Always mounted while the dialog is open, so the handler's `set_value` finds it."""
    return rx.vstack(
        rx.callout(
            rx.text(
                "Send this link to ",
                rx.text.strong(S.link_email),
                ". It works once and expires ",
                S.link_expires,
                ". It is shown only now: copy it before you close this dialog.",
            ),
            icon="link",
            color_scheme="green",
            width="100%",
            role="status",
        ),
        rx.hstack(
            rx.el.input(
                id=LINK_INPUT_ID,
                read_only=True,
                aria_label="Invitation link",
                default_value="",
                spell_check=False,
                style={
                    "flex": "1",
                    "font_family": "var(--code-font-family)",
                    "font_size": "13px",
                    "padding": "6px 8px",
                    "border": "1px solid var(--gray-a7)",
                    "border_radius": "6px",
                    "min_width": "0",
                },
            ),
            rx.button(
                rx.icon("copy", size=14),
                "Copy",
                type="button",
                on_click=[rx.call_script(_COPY), rx.toast.success("Link copied.")],
                id="invite-copy",
            ),
            width="100%",
            spacing="2",
        ),
        dialog_actions(cancel_label="Done"),
        spacing="3",
        width="100%",
        display=rx.cond(S.link_shown, "flex", "none"),
    )


def invite_dialog() -> rx.Component:
    return dialog(
        "Invite a client",
        dialog_description(
            "They get their own sign-in to this workspace's client portal, where they connect "
            "the apps you ask for. Nobody in the agency can read what they enter."
        ),
        _invite_form(),
        _link_panel(),
        open=S.invite_open,
        on_open_change=S.invite_open_changed,
    )


def revoke_dialog() -> rx.Component:
    return confirm_dialog(
        "Revoke this invitation?",
        rx.fragment(
            "The link sent to ",
            rx.text.strong(S.target_email),
            " stops working at once. You can invite them again later.",
            rx.cond(
                S.revoke_error != "",
                rx.text(S.revoke_error, color_scheme="red", role="alert", id="revoke-error"),
            ),
        ),
        rx.button("Revoke", color_scheme="red", on_click=S.confirm_revoke, id="revoke-confirm"),
        open=S.revoke_open,
        on_open_change=S.revoke_open_changed,
    )


def _people_table() -> rx.Component:
    return rx.cond(
        S.people.length() > 0,
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Name"),
                    rx.table.column_header_cell("Email"),
                    rx.table.column_header_cell("Client since"),
                )
            ),
            rx.table.body(
                rx.foreach(
                    S.people,
                    lambda p: rx.table.row(
                        rx.table.cell(p.name),
                        rx.table.cell(p.email),
                        rx.table.cell(p.since),
                        id="client-person-" + p.id,
                    ),
                )
            ),
            width="100%",
            id="client-people",
        ),
        rx.text("Nobody has joined the portal yet.", size="2", color_scheme="gray"),
    )


def _invitation_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(rx.text(row.email), rx.text(row.name, size="1"), spacing="0")),
        rx.table.cell(_state_badge(row.state, row.state_label), data_state=row.state),
        rx.table.cell(rx.text(row.detail, size="2")),
        rx.table.cell(rx.text(row.invited_by, size="2"), rx.text(row.sent, size="1")),
        rx.table.cell(
            rx.cond(
                row.may_revoke,
                rx.button(
                    "Revoke",
                    variant="soft",
                    color_scheme="red",
                    size="1",
                    on_click=S.ask_revoke(row.id),
                    aria_label="Revoke the invitation for " + row.email,
                ),
            )
        ),
        class_name="invitation-row",
        data_email=row.email,
    )


def _invitations_table() -> rx.Component:
    return rx.cond(
        S.invites.length() > 0,
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Invited"),
                    rx.table.column_header_cell("State"),
                    rx.table.column_header_cell(""),
                    rx.table.column_header_cell("By"),
                    rx.table.column_header_cell(""),
                )
            ),
            rx.table.body(rx.foreach(S.invites, _invitation_row)),
            width="100%",
            id="client-invitations",
        ),
        rx.text("No invitations yet.", size="2", color_scheme="gray"),
    )


def people_section() -> rx.Component:
    invite_button = rx.button(
        rx.icon("user-plus", size=14), "Invite a client", on_click=S.open_invite, id="invite-open"
    )
    listing = rx.cond(
        (S.people.length() == 0) & (S.invites.length() == 0),
        empty_state(
            "users",
            "No clients yet",
            "Invite the people of this client: they get a portal of their own where "
            "they connect the apps your workflows need.",
            invite_button,
        ),
        rx.vstack(
            rx.hstack(rx.heading("People", size="4"), rx.spacer(), invite_button, width="100%"),
            _people_table(),
            rx.heading("Invitations", size="4", margin_top="12px"),
            _invitations_table(),
            spacing="3",
            width="100%",
        ),
    )
    # The dialogs stay mounted whichever branch shows: the first invitation switches
    # the branch while its link is being written into the dialog.
    return rx.fragment(
        rx.cond(
            S.denied != "",
            rx.callout(S.denied, icon="lock", color_scheme="gray", id="client-people-denied"),
            listing,
        ),
        invite_dialog(),
        revoke_dialog(),
    )
