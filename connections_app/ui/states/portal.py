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
from connections_app.ui.states.paging import PAGE_SIZE, PagedMixin
from connections_app.ui.states.rows import AuditRow, PortalRow, audit_rows, portal_rows
from connections_app.ui.states.session import SessionState


class _PortalPart(rx.State, mixin=True):
    """A part of the portal: loaded from page one on open, re-read on workspace news."""

    loaded: bool = False

    async def _reload(self) -> Any:
        raise NotImplementedError

    async def _on_workspace_change(self) -> None:
        if self.loaded:
            await self._reload()

    @rx.event
    async def load(self) -> Any:
        self.page = 1  # PagedMixin's, beside this mixin in each part
        return await self._reload()


class PortalState(_PortalPart, PagedMixin, SessionState):
    """The connections this client authorized, a page at a time."""

    rows: list[PortalRow] = []
    error: str = ""

    async def _reload(self) -> Any:
        page = self.page
        answer = await self._as_actor(
            lambda db, actor: portal.my_connections(
                db, actor=actor, page=page, page_size=PAGE_SIZE
            ),
            write=False,
        )
        if answer.signed_out:
            return self._sign_in_redirect()
        mine = answer.value
        self.loaded = True
        if mine is None:
            self.error = answer.message
            self.rows, self.total = [], 0
            return None
        if not mine.items and mine.total and self.page > 1:
            self.page = max(1, -(-mine.total // PAGE_SIZE))  # the page emptied under us
            return await self._reload()
        self.error = ""
        self.rows = portal_rows(mine.items, get_settings().api_url)
        self.total = mine.total
        return None


class PortalActivityState(_PortalPart, PagedMixin, SessionState):
    """The client's own events here, newest first (the next page is older)."""

    items: list[AuditRow] = []

    async def _reload(self) -> Any:
        page = self.page
        answer = await self._as_actor(
            lambda db, actor: portal.my_activity(db, actor=actor, page=page, page_size=PAGE_SIZE),
            write=False,
        )
        done = answer.value
        self.loaded = True
        self.items = audit_rows(done) if done is not None else []
        self.total = done.total if done is not None else 0
        return None
