"""Read-models of connection lists for the Integrations, LLM Keys and portal pages.

Rows are flat string dicts built from `ConnectionView`: label, app, status and a
masked tail, never configuration values the actor may not see, never a secret.
One page at a time: the browser never receives the whole list.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from connections_app.core.connections import service as connections
from connections_app.core.connections.views import ConnectionView
from connections_app.core.db import session_scope
from connections_app.core.errors import DomainError, Unauthenticated
from connections_app.ui.states.session import SessionState

PAGE_SIZE = 25


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "Never"


def row_for_ui(view: ConnectionView) -> dict[str, str]:
    return {
        "id": view.id,
        "label": view.label,
        "app": view.app,
        "app_name": view.app_name,
        "app_icon": view.app_icon,
        "kind": view.kind,
        "status": view.status,
        "status_reason": view.status_reason or "",
        "sharing": view.sharing,
        "masked_tail": f"••••{view.masked_tail}" if view.masked_tail else "••••",
        "last_used": _when(view.last_used_at),
        "use_count": str(view.use_count),
        "scope": "Granted" if view.granted else "Workspace",
    }


class ConnectionListState(SessionState):
    rows: list[dict[str, str]] = []
    total: int = 0
    page: int = 1
    search: str = ""
    error: str = ""
    loading: bool = False

    def _account_scope(self) -> bool:
        return False

    def _authorized_by_me(self) -> bool:
        return False

    def _reload(self) -> Any:
        try:
            actor = self._actor()
            with session_scope() as db:
                result = connections.list_connections(
                    db,
                    actor=actor,
                    search=self.search or None,
                    page=self.page,
                    page_size=PAGE_SIZE,
                    account_scope=self._account_scope(),
                    authorized_by_me=self._authorized_by_me(),
                )
        except Unauthenticated:
            return self._sign_in_redirect()
        except DomainError as err:
            self.error = str(err)
            self.rows, self.total = [], 0
            return None
        self.error = ""
        self.rows = [row_for_ui(v) for v in result.items]
        self.total = result.total
        return None

    @rx.event
    def load(self) -> Any:
        self.page = 1
        return self._reload()

    @rx.event
    def search_changed(self, value: Any) -> Any:
        if not isinstance(value, str):
            return None
        self.search = value[:100]
        self.page = 1
        return self._reload()

    @rx.event
    def next_page(self) -> Any:
        if self.page * PAGE_SIZE < self.total:
            self.page += 1
        return self._reload()

    @rx.event
    def previous_page(self) -> Any:
        self.page = max(1, self.page - 1)
        return self._reload()

    @rx.var
    def page_summary(self) -> str:
        if self.total == 0:
            return ""
        first = (self.page - 1) * PAGE_SIZE + 1
        last = min(self.total, self.page * PAGE_SIZE)
        return f"{first}–{last} of {self.total}"


class AccountKeysState(ConnectionListState):
    def _account_scope(self) -> bool:
        return True


class PortalState(ConnectionListState):
    """The client portal lists only what the signed-in person authorized."""

    def _authorized_by_me(self) -> bool:
        return True
