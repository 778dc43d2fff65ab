"""client invitations (F24)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 03:45:00

A workspace admin invites a person by email to the workspace's client portal: a
single-use link whose token is stored as its SHA-256 only, valid for 72 hours.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(name: str, length: int, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=nullable)


def _time(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "client_invitations",
        _text("id", 32, False),
        _text("account_id", 32, False),
        _text("workspace_id", 32, False),
        _text("email", 254, False),
        _text("name", 120),
        _text("token_hash", 64, False),
        _time("expires_at", False),
        _text("created_by", 32),
        _time("created_at", False),
        _time("used_at"),
        _text("used_by", 32),
        _time("revoked_at"),
        _text("revoked_by", 32),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("client_invitations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_client_invitations_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("client_invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_invitations_workspace_id"))
    op.drop_table("client_invitations")
