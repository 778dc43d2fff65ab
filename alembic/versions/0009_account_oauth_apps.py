"""account oauth apps

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 00:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(name: str, length: int, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "account_oauth_apps",
        _text("id", 32, False),
        _text("account_id", 32, False),
        _text("app", 64, False),
        _text("slot", 200, False),
        _text("name", 120, False),
        _text("client_id", 255, False),
        sa.Column("secret_key_version", sa.Integer(), nullable=True),
        sa.Column("secret_nonce", sa.LargeBinary(), nullable=True),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=True),
        _text("secret_tail", 8, False),
        _text("issuer", 512),
        _text("authorize_url", 512),
        _text("token_url", 512),
        _text("revocation_url", 512),
        _text("userinfo_url", 512),
        _text("jwks_url", 512),
        sa.Column("iss_required", sa.Boolean(), nullable=False),
        _text("scopes", 500, False),
        sa.Column("extra_params", sa.JSON(), nullable=False),
        _text("token_auth_method", 32, False),
        sa.Column("pkce", sa.Boolean(), nullable=False),
        _text("identity_field", 120),
        _text("name_field", 120),
        _text("test_path", 500),
        _text("api_base_url", 512),
        _text("created_by", 32),
        _text("updated_by", 32),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "slot", name="uq_account_oauth_app_slot"),
    )
    with op.batch_alter_table("account_oauth_apps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_oauth_apps_account_id"), ["account_id"], unique=False
        )
    with op.batch_alter_table("oauth_flows", schema=None) as batch_op:
        batch_op.add_column(_text("oauth_app_id", 32))
        batch_op.add_column(
            sa.Column("another_account", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("oauth_flows", schema=None) as batch_op:
        batch_op.drop_column("another_account")
        batch_op.drop_column("oauth_app_id")
    with op.batch_alter_table("account_oauth_apps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_oauth_apps_account_id"))
    op.drop_table("account_oauth_apps")
