"""The workspace audit log page (admins): filters by connection, actor, action and
period, paged in the database, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import reflex as rx

from connections_app.core import audit_log
from connections_app.core.connections import service as connections
from connections_app.core.db import read_scope
from connections_app.core.errors import DomainError, Invalid, Unauthenticated
from connections_app.ui.formatting import exact, when
from connections_app.ui.states.paging import PAGE_SIZE, PagedMixin
from connections_app.ui.states.session import SessionState

ALL = "all"
_ACTIONS = {key for key, _ in audit_log.ACTION_CHOICES}


def _day(value: str, *, end: bool) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise Invalid("Dates look like 2026-11-23.", field="period") from None
    return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)


class AuditLogState(PagedMixin, SessionState):
    rows: list[dict[str, str]] = []
    connection_text: str = ""
    connection_id: str = ""
    actor_text: str = ""
    action: str = ALL
    since: str = ""
    until: str = ""
    error: str = ""
    allowed_here: bool = True

    def _reload(self) -> Any:
        try:
            actor = self._actor()
            with read_scope() as db:
                ids: Any = self.connection_id or None
                if ids is None and self.connection_text:
                    found = connections.list_connections(
                        db, actor=actor, search=self.connection_text, page_size=100
                    )
                    ids = [v.id for v in found.items] or ["-none-"]
                result = audit_log.workspace_log(
                    db,
                    actor=actor,
                    connection_id=ids,
                    actor_text=self.actor_text or None,
                    action=None if self.action == ALL else self.action,
                    since=_day(self.since, end=False),
                    until=_day(self.until, end=True),
                    page=self.page,
                    page_size=PAGE_SIZE,
                )
        except Unauthenticated:
            return self._sign_in_redirect()
        except DomainError as err:
            self.error = str(err)
            self.allowed_here = "admins" not in str(err)
            self.rows, self.total = [], 0
            return None
        self.error = ""
        self.allowed_here = True
        self.total = result.total
        self.rows = [
            {
                "when": when(e.at),
                "exact": exact(e.at),
                "actor": e.actor,
                "action": e.action_label,
                "outcome": e.outcome,
                "target": e.target,
                "summary": e.summary,
            }
            for e in result.items
        ]
        return None

    @rx.event
    def load(self) -> Any:
        params = self.router.url.query_parameters
        requested = params.get("connection", "")
        self.connection_id = (
            requested if isinstance(requested, str) and len(requested) <= 64 else ""
        )
        self.connection_text = ""
        self.page = 1
        return self._reload()

    @rx.event
    def change_filter(self, name: Any, value: Any) -> Any:
        if not isinstance(value, str):
            return None
        value = value.strip()[:120]
        if name == "connection":
            self.connection_text, self.connection_id = value, ""
        elif name == "actor":
            self.actor_text = value
        elif name == "action":
            if value != ALL and value not in _ACTIONS:
                return None
            self.action = value
        elif name in ("since", "until"):
            if value:
                try:
                    _day(value, end=False)
                except Invalid as err:
                    self.error = str(err)
                    return None
            setattr(self, name, value)
        else:
            return None
        self.page = 1
        return self._reload()

    @rx.event
    def clear(self) -> Any:
        self.connection_text = self.connection_id = self.actor_text = ""
        self.since = self.until = ""
        self.action, self.page = ALL, 1
        return self._reload()
