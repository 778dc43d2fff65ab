"""The Connect links tab of /clients (F24): a workspace admin asks a client to connect
an app, sees each link's state, and revokes pending ones.

The core decides who may do this (`connect_links.request/list_links/revoke` refuse or
answer nothing to anyone but a workspace admin) and which apps and clients can be
chosen. A new link's URL carries its token: it goes to the browser once, as the value
of a read-only input set from the handler's return (`rx.set_value`), and is never
kept in a state var; closing the dialog clears the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx

from connections_app.core.connections import connect_links
from connections_app.core.settings import get_settings
from connections_app.ui.formatting import exact, expiry, when
from connections_app.ui.states.rows import Choice
from connections_app.ui.states.session import SessionState

URL_INPUT_ID = "connect-link-url"
ANY_CLIENT = "any"
_STATE_COLORS = {"pending": "blue", "used": "green", "expired": "gray", "revoked": "red"}


@dataclass(frozen=True)
class LinkRow:
    id: str = ""
    app_name: str = ""
    app_icon: str = ""
    label: str = ""
    client_name: str = ""
    state: str = ""
    state_color: str = "gray"
    created: str = ""
    created_exact: str = ""
    expires: str = ""
    connection_label: str = ""
    revocable: bool = False


def _row(view: connect_links.LinkView) -> LinkRow:
    return LinkRow(
        id=view.id,
        app_name=view.app_name,
        app_icon=view.app_icon,
        label=view.label,
        client_name=view.client_name,
        state=view.state.capitalize(),
        state_color=_STATE_COLORS.get(view.state, "gray"),
        created=when(view.created_at),
        created_exact=exact(view.created_at),
        expires=expiry(view.expires_at) if view.state == "pending" else exact(view.expires_at),
        connection_label=view.connection_label,
        revocable=view.state == "pending",
    )


class ConnectLinkAdminState(SessionState):
    links: list[LinkRow] = []
    apps: list[Choice] = []
    clients: list[Choice] = []
    links_loaded: bool = False
    load_error: str = ""
    request_open: bool = False
    link_ready: bool = False  # the dialog shows the new link (its URL is only in the input)
    form_key: int = 0
    busy: bool = False
    error: str = ""
    error_field: str = ""
    revoke_open: bool = False
    revoke_id: str = ""
    revoke_label: str = ""

    async def _reload(self) -> Any:
        answer = await self._as_actor(connect_links.admin_screen, write=False)
        if answer.signed_out:
            return self._sign_in_redirect()
        screen = answer.value
        if screen is None:
            self.load_error = answer.message
            return None
        self.load_error = ""
        self.links = [_row(v) for v in screen.links]
        self.apps = [
            Choice(a.value, a.name, "Sign in" if a.method == "oauth" else "Key")
            for a in screen.apps
        ]
        self.clients = [Choice(p.user_id, p.name, p.email) for p in screen.clients]
        self.links_loaded = True
        return None

    async def _on_workspace_change(self) -> None:
        if self.links_loaded:
            await self._reload()

    @rx.event
    async def load(self) -> Any:
        return await self._reload()

    @rx.event
    def open_request(self) -> Any:
        self.request_open, self.link_ready = True, False
        self.error = self.error_field = ""
        self.form_key += 1
        return rx.set_value(URL_INPUT_ID, "")

    @rx.event
    def request_open_changed(self, value: Any) -> Any:
        if value is False and not self.busy:
            self.request_open, self.link_ready = False, False
            return rx.set_value(URL_INPUT_ID, "")
        return None

    @rx.event
    async def submit_request(self, form: dict) -> Any:
        if not isinstance(form, dict) or self.busy or self.link_ready:
            return None
        app, label = form.get("app"), form.get("label")
        client = form.get("client")
        client = None if client in (None, "", ANY_CLIENT) else client
        days = form.get("expires_days") or connect_links.DEFAULT_DAYS
        self.busy, self.error, self.error_field = True, "", ""
        answer = await self._as_actor(
            lambda db, actor: connect_links.request(
                db, actor, app=app, label=label, client_user_id=client, expires_days=days
            )
        )
        self.busy = False
        if answer.signed_out:
            return self._sign_in_redirect()
        if answer.value is None:
            self.error, self.error_field = answer.message, answer.field
            return None
        self.link_ready = True
        url = f"{get_settings().app_url}/connect/{answer.value.token}"
        # Shown once in the read-only input; never assigned to a state field.
        return [rx.set_value(URL_INPUT_ID, url), rx.toast.success("Link created. Copy it now.")]

    @rx.event
    async def ask_revoke(self, link_id: Any) -> Any:
        row = next((r for r in self.links if isinstance(link_id, str) and r.id == link_id), None)
        if row is None:
            return rx.toast.error("That link is not available.")
        self.revoke_id, self.revoke_label = row.id, f"{row.app_name} · {row.label}"
        self.revoke_open = True
        return None

    @rx.event
    def revoke_open_changed(self, value: Any) -> None:
        if value is False and not self.busy:
            self.revoke_open, self.revoke_id = False, ""

    @rx.event
    async def confirm_revoke(self) -> Any:
        if self.busy or not self.revoke_id:
            return None
        link_id = self.revoke_id
        self.busy = True
        answer = await self._as_actor(
            lambda db, actor: connect_links.revoke(db, actor, link_id=link_id)
        )
        self.busy, self.revoke_open, self.revoke_id = False, False, ""
        if answer.signed_out:
            return self._sign_in_redirect()
        if not answer.ok:
            return rx.toast.error(answer.message)
        return rx.toast.success("Link revoked. It can no longer be used.")
