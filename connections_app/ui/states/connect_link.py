"""The connect-link page (F24): a client answers an agency's request for one app.

On load the core resolves the route's reference (the token from the link that was
sent, or a link id from the portal) for the signed-in person; this state keeps only
the link's id and what the page shows, never the token. Every refusal is the core's
message, shown as a full page. A credential form's values are read once in `submit`
and passed straight to the core; the OAuth popup is started by the link's id and the
page turns to "Connected" when the workspace signal says the link was used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from connections_app.core.catalog import get_catalog
from connections_app.core.connections import connect_links
from connections_app.core.settings import get_settings
from connections_app.ui.formatting import expiry
from connections_app.ui.states.rows import FieldRow, field_rows
from connections_app.ui.states.session import SessionState


class ConnectLinkState(SessionState):
    link_loaded: bool = False
    problem_title: str = ""
    problem: str = ""
    link_id: str = ""
    agency: str = ""
    workspace: str = ""
    app_name: str = ""
    app_icon: str = ""
    label: str = ""
    method: str = ""  # oauth | form
    expires: str = ""
    fields: list[FieldRow] = []
    oauth_url: str = ""
    done_label: str = ""
    error: str = ""
    error_field: str = ""
    busy: bool = False

    def _show_problem(self, title: str, message: str) -> None:
        self.problem_title, self.problem = title, message
        self.link_id = self.oauth_url = ""
        self.fields = []

    def _reference(self) -> str:
        """The route's `[token]`: read once on load, never stored in a field."""
        return str(self.router.page.params.get("token", ""))

    @rx.event
    async def load(self) -> Any:
        reference = self._reference()
        self.reset()
        answer = await self._as_actor(
            lambda db, actor: connect_links.look(db, actor, reference=reference), write=False
        )
        self.link_loaded = True
        if answer.signed_out:
            return self._sign_in_redirect()
        found = answer.value
        if found is None or found.page is None:
            title = found.title if found else "This link cannot be used"
            self._show_problem(title, found.message if found else answer.message)
            return None
        page = found.page
        self.link_id, self.agency, self.workspace = page.id, page.agency, page.workspace
        self.app_name, self.app_icon, self.label = page.app_name, page.app_icon, page.label
        self.method, self.expires = page.method, expiry(page.expires_at).lower()
        if page.method == "form":
            self.fields = field_rows(get_catalog().get(page.app).auth_method(page.kind))
        else:
            query = urlencode({"link": page.id})
            self.oauth_url = f"{get_settings().api_url}/oauth/start?{query}"
        return None

    async def _on_workspace_change(self) -> None:
        """The popup's connection landed (or the agency withdrew the link)."""
        if not self.link_id or self.done_label:
            return
        link_id = self.link_id
        answer = await self._as_actor(
            lambda db, actor: connect_links.look(db, actor, link_id=link_id), write=False
        )
        found = answer.value
        if found is None:
            return
        if found.connected_label:
            self.done_label = found.connected_label
        elif found.page is None:
            self._show_problem(found.title, found.message)

    def _values(self, form: Mapping[str, Any]) -> dict[str, Any]:
        """Only the catalog's field names ride along into the core."""
        names = {f.name for f in self.fields}
        return {k: v for k, v in form.items() if k in names}

    @rx.event(background=True)
    async def submit(self, form: dict) -> Any:
        if not isinstance(form, dict):
            return None
        async with self:
            if self.busy or not self.link_id or self.method != "form" or self.done_label:
                return None
            self.busy = True
            self.error = self.error_field = ""
            link_id = self.link_id
            values = self._values(form)
            ref = self._session_ref()
        del form
        try:
            answer = await self._as_actor(
                lambda db, actor: connect_links.complete_with_credentials(
                    db, actor, link_id=link_id, fields=values
                ),
                ref=ref,
            )
        finally:
            values.clear()
        async with self:
            self.busy = False
            if answer.signed_out:
                return self._sign_in_redirect()
            if answer.value is None:
                self.error, self.error_field = answer.message, answer.field
                return None
            self.done_label = answer.value.label
        return None
