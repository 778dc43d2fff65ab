"""Queries of metered spend (`grant_spend`), grants' caps and account model prices.

The run-time path reaches these after its own tenancy check: the run resolved the
connection through `tenancy.connections` as the person who started it, so the grant
and spend rows read here are those of that connection in the run's own workspace.
Price overrides are read and written for the actor's own account only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from connections_app.core.clock import utcnow
from connections_app.core.identity.models import Workspace
from connections_app.core.metering.models import GrantSpend, ModelPrice
from connections_app.core.tenancy.actor import Actor


def workspace_name(db: Session, *, account_id: str, workspace_id: str) -> str:
    name = db.exec(
        select(Workspace.name).where(
            Workspace.id == workspace_id, Workspace.account_id == account_id
        )
    ).first()
    return name or "this workspace"


def spent_micros(db: Session, *, connection_id: str, workspace_id: str, month: str) -> int:
    value = db.exec(
        select(GrantSpend.spent_micros).where(
            GrantSpend.connection_id == connection_id,
            GrantSpend.workspace_id == workspace_id,
            GrantSpend.month == month,
        )
    ).first()
    return int(value or 0)


def add_spend(
    db: Session,
    *,
    account_id: str,
    connection_id: str,
    workspace_id: str,
    month: str,
    micros: int,
    calls: int = 1,
) -> None:
    """One statement: insert the month's row or add to it, atomically in the database
    (`spent = spent + excluded.spent`), so concurrent writers never lose an update."""
    dialect = db.get_bind().dialect.name
    builder: Any = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if builder is None:
        raise RuntimeError(f"metering needs SQLite or PostgreSQL, not {dialect}")
    stmt = builder(GrantSpend).values(
        connection_id=connection_id,
        workspace_id=workspace_id,
        month=month,
        account_id=account_id,
        spent_micros=micros,
        calls=calls,
        updated_at=utcnow(),
    )
    table = GrantSpend.__table__  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.connection_id, table.c.workspace_id, table.c.month],
        set_={
            "spent_micros": table.c.spent_micros + stmt.excluded.spent_micros,
            "calls": table.c.calls + stmt.excluded.calls,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    db.execute(stmt)


def spend_rows(
    db: Session, *, account_id: str, pairs: Iterable[tuple[str, str]], month: str
) -> list[GrantSpend]:
    """One account's month rows for the given (connection, workspace) pairs."""
    wanted = list(dict.fromkeys(pairs))
    if not wanted:
        return []
    return list(
        db.exec(
            select(GrantSpend).where(
                GrantSpend.account_id == account_id,
                GrantSpend.month == month,
                tuple_(GrantSpend.connection_id, GrantSpend.workspace_id).in_(wanted),
            )
        ).all()
    )


# --- model prices (per account) -------------------------------------------------------


def account_prices(db: Session, *, account_id: str, app: str) -> list[ModelPrice]:
    return list(
        db.exec(
            select(ModelPrice).where(ModelPrice.account_id == account_id, ModelPrice.app == app)
        ).all()
    )


def prices_query(actor: Actor, app: str | None = None) -> Any:
    stmt = select(ModelPrice).where(ModelPrice.account_id == actor.account_id)
    if app is not None:
        stmt = stmt.where(ModelPrice.app == app)
    return stmt.order_by(ModelPrice.app, ModelPrice.model)


def get_price(db: Session, actor: Actor, *, app: str, model: str) -> ModelPrice | None:
    return db.get(ModelPrice, (actor.account_id, app, model))
