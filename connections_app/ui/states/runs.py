"""Run history (F22, F30): newest first, each run with its steps; live through alerts."""

from __future__ import annotations

from typing import Any

import reflex as rx

from connections_app.core.workflows import runs
from connections_app.ui import formatting
from connections_app.ui.states.rows import RunRow, StepRow, run_row, step_rows
from connections_app.ui.states.session import SessionState


class RunsState(SessionState):
    loaded: bool = False
    error: str = ""
    workflow_id: str = ""
    workflow_name: str = ""
    page: int = 1
    total: int = 0
    rows: list[RunRow] = []
    steps: dict[str, list[StepRow]] = {}

    async def _on_workspace_change(self) -> None:
        if self.loaded:
            await self._reload()

    async def _reload(self) -> bool:
        """False when the session no longer names anyone."""
        wanted, page = self.workflow_id or None, self.page
        answer = await self._as_actor(
            lambda db, actor: runs.history(db, actor=actor, workflow_id=wanted, page=page),
            write=False,
        )
        if answer.signed_out:
            return False
        found = answer.value
        if found is None:
            self.error, self.rows, self.steps, self.total = answer.message, [], {}, 0
            self.loaded = True
            return True
        self.error, self.total = "", found.total
        self.rows = [run_row(r) for r in found.items]
        self.steps = {r.id: step_rows(r) for r in found.items}
        named = self.workflow_id and found.items
        self.workflow_name = found.items[0].workflow_name if named else ""
        self.loaded = True
        return True

    @rx.event
    async def load(self) -> Any:
        wanted = self.router.url.query_parameters.get("wf")
        self.workflow_id = wanted[:64] if isinstance(wanted, str) else ""
        self.page = 1
        if not await self._reload():
            return self._sign_in_redirect()
        return None

    @rx.event
    async def next_page(self) -> None:
        if self.page * runs.HISTORY_PAGE < self.total:
            self.page += 1
            await self._reload()

    @rx.event
    async def previous_page(self) -> None:
        if self.page > 1:
            self.page -= 1
            await self._reload()

    @rx.var
    def page_summary(self) -> str:
        return formatting.page_summary(self.page, runs.HISTORY_PAGE, self.total)

    @rx.var
    def has_next(self) -> bool:
        return self.page * runs.HISTORY_PAGE < self.total
