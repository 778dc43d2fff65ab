"""Shared shapes of the scoped lookups: a hostile id answers not-found, like a foreign one."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from connections_app.core.errors import NotFound


def one(db: Session, stmt: Any, what: str, for_update: bool) -> Any:
    row = db.exec(stmt.with_for_update() if for_update else stmt).first()
    if row is None:
        raise NotFound(f"{what} not found.")
    return row


def valid_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise NotFound(f"{what} not found.")
    return value
