"""the scope a sign-in creates its connection in (account connections by OAuth)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 01:30:00

An account admin may connect an OAuth app in account scope (F9, F26): the flow
records which scope the new connection gets. Existing flows were all workspace ones.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "oauth_flows",
        sa.Column(
            "scope",
            sqlmodel.sql.sqltypes.AutoString(length=16),
            nullable=False,
            server_default="workspace",
        ),
    )


def downgrade() -> None:
    op.drop_column("oauth_flows", "scope")
