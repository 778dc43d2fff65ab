"""What model calls through a granted account connection cost, per grant and month.

Money is held in integer micro-dollars (1 USD = 1,000,000): prices per million
tokens are whole numbers of micro-dollars, so a call's cost is an exact integer
and a month's spend is a sum no float ever rounds. Caps stay in cents on the grant.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from connections_app.core.clock import utcnow


class GrantSpend(SQLModel, table=True):
    """What one workspace spent through one account connection in one UTC calendar
    month (`month` is "YYYY-MM").

    Keyed by connection and workspace rather than by grant row: removing a grant and
    granting again must not reset a month that was already spent. Written only by one
    atomic `INSERT … ON CONFLICT DO UPDATE SET spent = spent + n`, so several workers
    recording at once never lose an update.
    """

    __tablename__ = "grant_spend"

    connection_id: str = Field(
        foreign_key="connections.id", primary_key=True, max_length=32, ondelete="CASCADE"
    )
    workspace_id: str = Field(foreign_key="workspaces.id", primary_key=True, max_length=32)
    month: str = Field(primary_key=True, max_length=7)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=32)
    spent_micros: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    calls: int = 0
    updated_at: datetime = Field(default_factory=utcnow)


class ModelPrice(SQLModel, table=True):
    """An account's own price for one model of one model-provider app, overriding the
    catalog's (negotiated rates, models the catalog does not list yet)."""

    __tablename__ = "model_prices"

    account_id: str = Field(foreign_key="accounts.id", primary_key=True, max_length=32)
    app: str = Field(primary_key=True, max_length=64)
    model: str = Field(primary_key=True, max_length=120)
    input_micros_per_mtok: int = Field(sa_column=Column(BigInteger, nullable=False))
    output_micros_per_mtok: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_by: str | None = Field(default=None, max_length=32)
    updated_at: datetime = Field(default_factory=utcnow)
