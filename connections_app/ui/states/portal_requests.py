"""The portal's pending requests (F24): the connect links the agency sent this client.

The core lists only the signed-in client's pending links (anyone else: none); the
portal knows each by id only, and the link page resolves that id for this person."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx

from connections_app.core.connections import connect_links
from connections_app.ui.formatting import expiry
from connections_app.ui.states.session import SessionState


@dataclass(frozen=True)
class RequestRow:
    id: str = ""
    text: str = ""
    app_name: str = ""
    app_icon: str = ""
    label: str = ""
    expires: str = ""
    href: str = ""


def _row(page: connect_links.LinkPage) -> RequestRow:
    return RequestRow(
        id=page.id,
        text=f"{page.agency} asks you to connect {page.app_name}",
        app_name=page.app_name,
        app_icon=page.app_icon,
        label=page.label,
        expires=expiry(page.expires_at).lower(),  # "… · expires in 7 d"
        href=f"/connect/{page.id}",
    )


class PortalRequestsState(SessionState):
    requests: list[RequestRow] = []
    requests_loaded: bool = False

    async def _reload(self) -> Any:
        answer = await self._as_actor(connect_links.pending_for_client, write=False)
        if answer.signed_out:
            return self._sign_in_redirect()
        self.requests = [_row(p) for p in answer.value or []]
        self.requests_loaded = True
        return None

    async def _on_workspace_change(self) -> None:
        if self.requests_loaded:
            await self._reload()

    @rx.event
    async def load(self) -> Any:
        return await self._reload()
