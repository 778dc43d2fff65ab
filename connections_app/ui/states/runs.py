"""Run history (F22, F30): newest first, each run with its steps; live through alerts."""

from __future__ import annotations

from typing import Any

import reflex as rx

from connections_app.core.db import read_scope
from connections_app.core.errors import DomainError, Unauthenticated
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

    def _on_workspace_change(self) -> None:
        if self.loaded:
            self._reload()

    def _reload(self) -> None:
        try:
            actor = self._actor()
        except Unauthenticated:
            return
        try:
            with read_scope() as db:
                page = runs.history(
                    db, actor=actor, workflow_id=self.workflow_id or None, page=self.page
                )
        except DomainError as err:
            self.error, self.rows, self.steps, self.total = str(err), [], {}, 0
            self.loaded = True
            return
        self.error, self.total = "", page.total
        self.rows = [run_row(r) for r in page.items]
        self.steps = {r.id: step_rows(r) for r in page.items}
        self.workflow_name = page.items[0].workflow_name if self.workflow_id and page.items else ""
        self.loaded = True

    @rx.event
    def load(self) -> Any:
        try:
            self._actor()
        except Unauthenticated:
            return self._sign_in_redirect()
        wanted = self.router.url.query_parameters.get("wf")
        self.workflow_id = wanted[:64] if isinstance(wanted, str) else ""
        self.page = 1
        self._reload()
        return None

    @rx.event
    def refresh(self) -> None:
        self._reload()

    @rx.event
    def next_page(self) -> None:
        if self.page * runs.HISTORY_PAGE < self.total:
            self.page += 1
            self._reload()

    @rx.event
    def previous_page(self) -> None:
        if self.page > 1:
            self.page -= 1
            self._reload()

    @rx.var
    def page_summary(self) -> str:
        return formatting.page_summary(self.page, runs.HISTORY_PAGE, self.total)

    @rx.var
    def has_next(self) -> bool:
        return self.page * runs.HISTORY_PAGE < self.total
