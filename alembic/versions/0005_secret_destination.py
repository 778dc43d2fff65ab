"""secrets bound to their destination: connection_secrets.destination

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 19:40:00

Existing rows are fingerprinted with the destination fields the catalog marks
today (frozen here, so the migration means the same thing whenever it runs).
"""

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (app, kind) -> destination fields, as marked in the catalog at this revision.
_DESTINATIONS = {
    ("custom_api_key", "api_key"): ("base_url", "header_name"),
    ("custom_api_key", "custom"): ("base_url",),
    ("custom_oauth2", "oauth2"): ("api_base_url", "authorize_url", "token_url"),
    ("freshdesk", "api_key"): ("subdomain",),
}


def _fingerprint(app: str, kind: str, config: dict) -> str:
    names = _DESTINATIONS.get((app, kind), ())
    values = {name: str(config.get(name, "")) for name in names}
    body = ["dest-v1", app, kind, values]
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("connection_secrets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "destination",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default="",
            )
        )
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, app, kind, config FROM connections")).fetchall()
    for conn_id, app, kind, config in rows:
        parsed = json.loads(config) if isinstance(config, str) else (config or {})
        bind.execute(
            sa.text("UPDATE connection_secrets SET destination = :d WHERE connection_id = :c"),
            {"d": _fingerprint(app, kind, parsed), "c": conn_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("connection_secrets", schema=None) as batch_op:
        batch_op.drop_column("destination")
