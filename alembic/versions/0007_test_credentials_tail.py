"""masked tail of a connection's test credentials (F28)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 22:30:00

Test credentials are sealed like live ones; what may be shown of them is a masked
tail, kept beside the live one. Existing rows start with none shown ("set").
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN (no batch copy): recreating `connections` on SQLite would
    # cascade-delete every sealed secret that references it.
    op.add_column(
        "connections",
        sa.Column(
            "test_masked_tail",
            sqlmodel.sql.sqltypes.AutoString(length=8),
            nullable=False,
            server_default="",
        ),
    )


def downgrade() -> None:
    op.drop_column("connections", "test_masked_tail")
