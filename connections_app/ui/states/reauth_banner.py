"""F21: the "needs to be reauthorized" banner on every workspace page.

Its rows are read through the core for the person looking (personal connections
of others never appear). When an alert for the workspace arrives, the app
re-runs `_reload` in every tab linked to the workspace's `WorkspaceSignal`
(ui/background.py), each with its own session, so the banner appears and
disappears in every open tab without reload.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import reflex as rx

from connections_app.core.connections import service as connections
from connections_app.core.db import read_scope
from connections_app.core.errors import DomainError, Unauthenticated
from connections_app.core.settings import get_settings
from connections_app.ui.states.session import SessionState


class ReauthBannerState(SessionState):
    items: list[dict[str, str]] = []
    expanded: bool = False

    @rx.event
    def load(self) -> Any:
        return self._reload()

    def _reload(self) -> Any:
        """Also called out of band by the alert bridge, for each linked tab."""
        try:
            actor = self._actor()
            with read_scope() as db:
                views = connections.needing_reauthorization(db, actor=actor)
        except Unauthenticated:
            self.items = []
            return None
        except DomainError:
            return None
        api = get_settings().api_url
        self.items = [
            {
                "id": v.id,
                "label": v.label,
                "app_name": v.app_name,
                "app_icon": v.app_icon,
                "reason": v.status_reason or "",
                "reconnect_url": (
                    f"{api}/oauth/start?" + urlencode({"app": v.app, "target": v.id})
                    if v.actions.reconnect
                    else ""
                ),
            }
            for v in views
        ]
        if not self.items:
            self.expanded = False
        return None

    def _on_workspace_change(self) -> None:
        self._reload()

    @rx.event
    def toggle(self) -> None:
        self.expanded = not self.expanded

    @rx.var
    def headline(self) -> str:
        n = len(self.items)
        if n == 1:
            return "A connection needs to be reauthorized"
        return f"{n} connections need to be reauthorized"
