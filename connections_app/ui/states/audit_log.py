"""The workspace audit log page (admins): filters by connection, actor, action and
period, paged in the database, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import reflex as rx
from sqlmodel import Session

from connections_app.core import audit_log
from connections_app.core.connections import service as connections
from connections_app.core.errors import Invalid
from connections_app.core.tenancy.actor import Actor
from connections_app.ui.states.paging import PAGE_SIZE, PagedMixin
from connections_app.ui.states.rows import AuditRow, audit_rows
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
    rows: list[AuditRow] = []
    connection_text: str = ""
    connection_id: str = ""
    actor_text: str = ""
    action: str = ALL
    since: str = ""
    until: str = ""
    error: str = ""
    allowed_here: bool = True

    async def _reload(self) -> Any:
        connection_id, connection_text = self.connection_id, self.connection_text
        query = {
            "actor_text": self.actor_text or None,
            "action": None if self.action == ALL else self.action,
            "page": self.page,
            "page_size": PAGE_SIZE,
        }
        since, until = self.since, self.until

        def read(db: Session, actor: Actor) -> audit_log.AuditPage:
            ids: Any = connection_id or None
            if ids is None and connection_text:
                found = connections.list_connections(
                    db, actor=actor, search=connection_text, page_size=100
                )
                ids = [v.id for v in found.items] or ["-none-"]
            return audit_log.workspace_log(
                db,
                actor=actor,
                connection_id=ids,
                since=_day(since, end=False),
                until=_day(until, end=True),
                **query,
            )

        answer = await self._as_actor(read, write=False)
        result = answer.value
        if result is None:
            if answer.signed_out:
                return self._sign_in_redirect()
            self.error = answer.message
            self.allowed_here = not answer.denied
            self.rows, self.total = [], 0
            return None
        self.error = ""
        self.allowed_here = True
        self.total = result.total
        self.rows = audit_rows(result)
        return None

    @rx.event
    async def load(self) -> Any:
        params = self.router.url.query_parameters
        requested = params.get("connection", "")
        self.connection_id = (
            requested if isinstance(requested, str) and len(requested) <= 64 else ""
        )
        self.connection_text = ""
        self.page = 1
        return await self._reload()

    @rx.event
    async def change_filter(self, name: Any, value: Any) -> Any:
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
        return await self._reload()

    @rx.event
    async def clear(self) -> Any:
        self.connection_text = self.connection_id = self.actor_text = ""
        self.since = self.until = ""
        self.action, self.page = ALL, 1
        return await self._reload()
