"""The People tab of /clients (F24): the workspace's client people, their invitations,
inviting someone and revoking an invitation.

The invitation link holds a single-use credential, so it never enters this state
(Reflex pickles every field, backend ones too, into its state store): the invite
handler returns it as a `set_value` event that writes it straight into the dialog's
read-only input, and closing the dialog empties that input. Only the email and the
expiry stay here. Who may see or do any of it is the core's answer
(`invitations.*` refuse anyone but the workspace's admins).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx

from connections_app.core.identity import invitations
from connections_app.core.settings import get_settings
from connections_app.ui.formatting import exact, when
from connections_app.ui.states.session import SessionState

LINK_INPUT_ID = "invite-link"
STATE_WORDS = {"pending": "Pending", "used": "Used", "expired": "Expired", "revoked": "Revoked"}


@dataclass(frozen=True)
class ClientPersonRow:
    id: str = ""
    name: str = ""
    email: str = ""
    since: str = ""
    active: bool = True


@dataclass(frozen=True)
class InvitationRow:
    id: str = ""
    email: str = ""
    name: str = ""
    state: str = ""
    state_label: str = ""
    invited_by: str = ""
    sent: str = ""
    detail: str = ""  # when it expires, was used or revoked
    may_revoke: bool = False


def _invitation_row(view: invitations.InvitationView) -> InvitationRow:
    detail = {
        "pending": "Expires " + when(view.expires_at).lower(),
        "used": "Accepted " + when(view.used_at).lower(),
        "revoked": "Revoked " + when(view.revoked_at).lower(),
        "expired": "Expired " + when(view.expires_at).lower(),
    }[view.state]
    return InvitationRow(
        id=view.id,
        email=view.email,
        name=view.name,
        state=view.state,
        state_label=STATE_WORDS[view.state],
        invited_by=view.invited_by or "—",
        sent=when(view.created_at),
        detail=detail,
        may_revoke=view.may_revoke,
    )


def _person_row(person: invitations.ClientPerson) -> ClientPersonRow:
    return ClientPersonRow(
        id=person.user_id,
        name=person.name,
        email=person.email,
        since=when(person.since),
        active=person.is_active,
    )


def _people_and_invitations(db: Any, actor: Any) -> tuple[list[Any], list[Any]]:
    return invitations.list_invitations(db, actor), invitations.client_people(db, actor)


class ClientPeopleState(SessionState):
    people: list[ClientPersonRow] = []
    invites: list[InvitationRow] = []
    loaded: bool = False
    denied: str = ""
    # The invite dialog: the form, then the link (in the DOM only, see the docstring).
    invite_open: bool = False
    busy: bool = False
    error: str = ""
    error_field: str = ""
    link_shown: bool = False
    link_email: str = ""
    link_expires: str = ""
    form_key: int = 0
    # The revoke confirmation.
    revoke_open: bool = False
    target_id: str = ""
    target_email: str = ""
    revoke_error: str = ""

    async def _on_workspace_change(self) -> None:
        if self.loaded:
            await self._load()

    async def _load(self) -> None:
        answer = await self._as_actor(_people_and_invitations, write=False)
        if answer.value is None:
            self.people, self.invites = [], []
            self.denied = answer.message or "Only workspace admins manage client people."
            return
        views, people = answer.value
        self.invites = [_invitation_row(v) for v in views]
        self.people = [_person_row(p) for p in people]
        self.denied = ""

    @rx.event
    async def load(self) -> None:
        self.invite_open = self.revoke_open = self.link_shown = False
        await self._load()
        self.loaded = True

    # --- inviting ------------------------------------------------------------------------

    @rx.event
    def open_invite(self) -> None:
        if self.denied:
            return
        self.error = self.error_field = self.link_email = self.link_expires = ""
        self.link_shown = self.busy = False
        self.form_key += 1
        self.invite_open = True

    @rx.event
    def invite_open_changed(self, value: Any) -> Any:
        if value is False and not self.busy:
            self.invite_open = self.link_shown = False
            self.form_key += 1
            return rx.set_value(LINK_INPUT_ID, "")  # the link leaves the page too
        return None

    @rx.event
    async def invite(self, form: dict) -> Any:
        if not isinstance(form, dict) or self.busy or not self.invite_open or self.link_shown:
            return None
        email, name = form.get("email"), form.get("name")
        self.busy, self.error, self.error_field = True, "", ""
        answer = await self._as_actor(lambda db, actor: invitations.invite(db, actor, email, name))
        self.busy = False
        if answer.signed_out:
            return self._sign_in_redirect()
        made = answer.value
        if made is None:
            self.error, self.error_field = answer.message, answer.field or ""
            return None
        self.link_email = made.invitation.email
        hours = int(invitations.VALID_FOR.total_seconds() // 3600)
        self.link_expires = f"in {hours} hours ({exact(made.invitation.expires_at)})"
        self.link_shown = True
        await self._load()
        link = f"{get_settings().api_url}/invite/{made.token}"
        return rx.set_value(LINK_INPUT_ID, link)

    # --- revoking ------------------------------------------------------------------------

    @rx.event
    def ask_revoke(self, invitation_id: Any) -> None:
        row = next((r for r in self.invites if r.id == invitation_id and r.may_revoke), None)
        if row is not None:
            self.target_id, self.target_email, self.revoke_error = row.id, row.email, ""
            self.revoke_open = True

    @rx.event
    def revoke_open_changed(self, value: Any) -> None:
        if value is False and not self.busy:
            self.revoke_open = False

    @rx.event
    async def confirm_revoke(self) -> Any:
        if self.busy or not self.target_id:
            return None
        target, email = self.target_id, self.target_email
        answer = await self._as_actor(lambda db, actor: invitations.revoke(db, actor, target))
        if answer.signed_out:
            return self._sign_in_redirect()
        await self._load()
        if not answer.ok:
            self.revoke_error = answer.message
            return None
        self.revoke_open, self.target_id = False, ""
        return rx.toast.success(f"The invitation for {email} was revoked: its link is dead.")
