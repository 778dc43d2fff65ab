"""connect links (F24)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 03:40:00

A workspace admin asks a client to authorize one app through a single-use, expiring
link (only SHA-256 of its token is stored); an OAuth flow started from a link records
it, so the connection it creates marks the link used in the same transaction.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(name: str, length: int, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=nullable)


def _time(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "connect_links",
        _text("id", 32, False),
        _text("account_id", 32, False),
        _text("workspace_id", 32, False),
        _text("app", 64, False),
        _text("oauth_app_id", 32),
        _text("label", 120, False),
        _text("client_user_id", 32),
        _text("token_hash", 64, False),
        _time("expires_at", False),
        _text("created_by", 32),
        _time("created_at", False),
        _time("used_at"),
        _text("used_by", 32),
        _text("connection_id", 32),
        _time("revoked_at"),
        _text("revoked_by", 32),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("connect_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_connect_links_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_connect_links_workspace_id"), ["workspace_id"], unique=False
        )
    with op.batch_alter_table("oauth_flows", schema=None) as batch_op:
        batch_op.add_column(_text("connect_link_id", 32))


def downgrade() -> None:
    with op.batch_alter_table("oauth_flows", schema=None) as batch_op:
        batch_op.drop_column("connect_link_id")
    with op.batch_alter_table("connect_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connect_links_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_connect_links_account_id"))
    op.drop_table("connect_links")
