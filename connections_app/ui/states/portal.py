"""The client portal's read-models (F24): the connections this client authorized and
its own activity, each a page at a time.

Its own state, not a subclass of the Integrations list: Reflex substates share their
parent's vars, and a portal must never show rows another page loaded. The core
answers only clients (`core.portal`); anyone else gets the refusal and no rows, and
`SessionState.load_session` has already sent them to their start page.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from connections_app.core import portal
from connections_app.core.settings import get_settings
from connections_app.ui import formatting
from connections_app.ui.states.paging import PAGE_SIZE, PagedMixin
from connections_app.ui.states.rows import AuditRow, PortalRow, audit_rows, portal_rows
from connections_app.ui.states.session import SessionState

ACTIVITY_PAGE_SIZE = 10


class PortalState(PagedMixin, SessionState):
    rows: list[PortalRow] = []
    error: str = ""
    loaded: bool = False
    activity: list[AuditRow] = []
    activity_page: int = 1
    activity_total: int = 0

    async def _reload(self) -> Any:
        page, activity_page = self.page, self.activity_page

        def read(db: Any, actor: Any) -> tuple[portal.PortalPage, Any]:
            mine = portal.my_connections(db, actor=actor, page=page, page_size=PAGE_SIZE)
            done = portal.my_activity(
                db, actor=actor, page=activity_page, page_size=ACTIVITY_PAGE_SIZE
            )
            return mine, done

        answer = await self._as_actor(read, write=False)
        if answer.signed_out:
            return self._sign_in_redirect()
        if answer.value is None:
            self.error = answer.message
            self.rows, self.total, self.activity, self.activity_total = [], 0, [], 0
            self.loaded = True
            return None
        mine, done = answer.value
        if not mine.items and mine.total and self.page > 1:
            self.page = max(1, -(-mine.total // PAGE_SIZE))  # the page emptied under us
            return await self._reload()
        self.error = ""
        self.rows = portal_rows(mine.items, get_settings().api_url)
        self.total = mine.total
        self.activity = audit_rows(done)
        self.activity_total = done.total
        self.loaded = True
        return None

    async def _on_workspace_change(self) -> None:
        if self.loaded:
            await self._reload()

    @rx.event
    async def load(self) -> Any:
        self.page = self.activity_page = 1
        return await self._reload()

    @rx.event
    async def activity_next(self) -> Any:
        if self.activity_page * ACTIVITY_PAGE_SIZE < self.activity_total:
            self.activity_page += 1
        return await self._reload()

    @rx.event
    async def activity_previous(self) -> Any:
        self.activity_page = max(1, self.activity_page - 1)
        return await self._reload()

    @rx.var
    def activity_summary(self) -> str:
        return formatting.page_summary(self.activity_page, ACTIVITY_PAGE_SIZE, self.activity_total)

    @rx.var
    def activity_has_next(self) -> bool:
        return self.activity_page * ACTIVITY_PAGE_SIZE < self.activity_total
