"""Read-models of connection lists for the Integrations page (the account screens extend
them: ui/states/account_connections.py; the client portal has its own: ui/states/portal.py).

Rows are typed `ConnectionRow`s built from `ConnectionView` (ui/states/rows.py):
label, app, status and a masked tail, never configuration values the actor may not
see, never a secret.
One page at a time, filtered in the database: the browser never receives the
whole list.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from connections_app.core.catalog import get_catalog
from connections_app.core.connections import service as connections
from connections_app.core.connections.models import Kind, Status
from connections_app.ui.states.paging import PAGE_SIZE, PagedMixin
from connections_app.ui.states.rows import ConnectionRow, connection_row
from connections_app.ui.states.session import SessionState

ALL = "all"
_FILTER_CHOICES: dict[str, set[str]] = {
    "kind": {str(k) for k in Kind},
    "status": {str(s) for s in Status},
}


class ConnectionListState(PagedMixin, SessionState):
    rows: list[ConnectionRow] = []
    search: str = ""
    app_filter: str = ALL
    kind_filter: str = ALL
    status_filter: str = ALL
    error: str = ""
    can_add: bool = False
    list_loaded: bool = False
    # Which list state last loaded the rows: its subclasses (LLM keys, account ones)
    # share these fields with it (Reflex substates read their parent's vars).
    list_kind: str = ""

    def _account_scope(self) -> bool:
        return False

    def _page_query(self) -> dict[str, Any]:
        """The search, filters and page the list service is asked for."""
        return {
            "search": self.search or None,
            "app": None if self.app_filter == ALL else self.app_filter,
            "kind": None if self.kind_filter == ALL else self.kind_filter,
            "status": None if self.status_filter == ALL else self.status_filter,
            "page": self.page,
            "page_size": PAGE_SIZE,
        }

    async def _reload(self) -> Any:
        query = {
            **self._page_query(),
            "account_scope": self._account_scope(),
        }
        answer = await self._as_actor(
            lambda db, actor: connections.list_connections(db, actor=actor, **query),
            write=False,
        )
        result, me = answer.value, answer.me
        if answer.signed_out:
            return self._sign_in_redirect()
        if result is None or me is None:
            self.error = answer.message
            self.rows, self.total = [], 0
            return None
        if result.items == [] and result.total and self.page > 1:
            # The page emptied under us (deletes elsewhere): show the last one.
            self.page = max(1, -(-result.total // PAGE_SIZE))
            return await self._reload()
        self.error = ""
        self.rows = [connection_row(v) for v in result.items]
        self.total = result.total
        self.can_add = me.may_add_connection
        self.list_loaded, self.list_kind = True, type(self).__name__
        return None

    async def _on_workspace_change(self) -> None:
        if self.list_loaded and self.list_kind == type(self).__name__:
            await self._reload()

    @rx.event
    async def load(self) -> Any:
        self.page = 1
        return await self._reload()

    @rx.event
    async def search_changed(self, value: Any) -> Any:
        if not isinstance(value, str):
            return None
        self.search = value[:100]
        self.page = 1
        return await self._reload()

    @rx.event
    async def filter_changed(self, name: Any, value: Any) -> Any:
        if name not in ("app", "kind", "status") or not isinstance(value, str):
            return None
        if value != ALL:
            valid = {a.key for a in get_catalog().apps} if name == "app" else _FILTER_CHOICES[name]
            if value not in valid:
                return None
        setattr(self, f"{name}_filter", value)
        self.page = 1
        return await self._reload()

    @rx.event
    async def clear_filters(self) -> Any:
        self.search, self.page = "", 1
        self.app_filter = self.kind_filter = self.status_filter = ALL
        return await self._reload()

    @rx.var
    def filtering(self) -> bool:
        filters = (self.app_filter, self.kind_filter, self.status_filter)
        return bool(self.search) or any(f != ALL for f in filters)
