"""sign-in throttle per client and per account; the hard account lock goes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:15:00

`sign_in_throttle` holds failure counts and waits per hashed key (client, account,
client x account). `users.failed_logins` and `users.locked_until` belonged to the
15-minute lock that anyone could trigger; they are dropped (SQLite >= 3.35 and
PostgreSQL both drop a plain column in place). A downgrade brings them back empty:
nobody is locked.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_throttle",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("blocked_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("audited_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("sign_in_throttle", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sign_in_throttle_last_failure", ["last_failure_at"], unique=False
        )
    op.drop_column("users", "locked_until")
    op.drop_column("users", "failed_logins")


def downgrade() -> None:
    op.add_column(
        "users",
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "users",
        sa.Column("locked_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    )
    with op.batch_alter_table("sign_in_throttle", schema=None) as batch_op:
        batch_op.drop_index("ix_sign_in_throttle_last_failure")
    op.drop_table("sign_in_throttle")
