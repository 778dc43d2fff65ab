"""F21: the "needs to be reauthorized" banner on every workspace page.

Its rows are read through the core for the person looking (personal connections
of others never appear). When an alert for the workspace arrives, the app
re-runs `_reload` in every tab linked to the workspace's `WorkspaceSignal`
(ui/background.py), each with its own session, so the banner appears and
disappears in every open tab without reload.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from connections_app.core.connections import service as connections
from connections_app.core.settings import get_settings
from connections_app.ui.states.rows import ReauthRow, reauth_rows
from connections_app.ui.states.session import SessionState


class ReauthBannerState(SessionState):
    items: list[ReauthRow] = []
    expanded: bool = False

    @rx.event
    async def load(self) -> Any:
        return await self._reload()

    async def _reload(self) -> Any:
        """Also called out of band by the alert bridge, for each linked tab."""
        answer = await self._as_actor(
            lambda db, actor: connections.needing_reauthorization(db, actor=actor), write=False
        )
        if answer.signed_out:
            self.items = []
            return None
        if answer.value is None:
            return None
        self.items = reauth_rows(answer.value, get_settings().api_url)
        if not self.items:
            self.expanded = False
        return None

    async def _on_workspace_change(self) -> None:
        await self._reload()

    @rx.event
    def toggle(self) -> None:
        self.expanded = not self.expanded

    @rx.var
    def headline(self) -> str:
        n = len(self.items)
        if n == 1:
            return "A connection needs to be reauthorized"
        return f"{n} connections need to be reauthorized"
