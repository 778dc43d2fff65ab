"""substring search on trigram indexes (pg_trgm) on PostgreSQL

Revision ID: 0013_pg_trgm_search
Revises: 0012
Create Date: 2026-12-01 07:00:00

The node picker and the Integrations list search with `LIKE '%…%'` on the
normalised label (and the list also on the stable key). A B-tree cannot seek
such a pattern, so a search reads every index entry of the app in the
workspace; a GIN trigram index answers it from the trigrams of the text.

PostgreSQL only, and only when `pg_trgm` can be had: already installed, or
created here (a trusted extension since PostgreSQL 13: the database owner may
create it). When it cannot be created (the role may not, or the contrib files
are missing) the migration logs one line and does nothing else: the search
keeps working with LIKE, without the index. On SQLite it does nothing.
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_pg_trgm_search"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

# index name -> column of `connections` searched with LIKE '%…%'
INDEXES = {
    "ix_connections_label_key_trgm": "label_key",
    "ix_connections_stable_key_trgm": "stable_key",
}


def _has_trgm(bind: sa.Connection) -> bool:
    """pg_trgm is installed in this database, or is created now; False (logged) if not."""
    installed = sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
    if bind.execute(installed).first() is not None:
        return True
    available = sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    if bind.execute(available).first() is None:
        log.warning(
            "pg_trgm is not available on this server (postgresql-contrib): substring "
            "search stays on LIKE without a trigram index"
        )
        return False
    try:
        with bind.begin_nested():  # a refusal must not abort the migration's transaction
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as err:
        log.warning(
            "pg_trgm could not be created (%s: the role may not create extensions): "
            "substring search stays on LIKE without a trigram index; a superuser can run "
            "CREATE EXTENSION pg_trgm, then `connections-admin db upgrade` again after a "
            "downgrade to 0012 adds the indexes",
            type(err.orig).__name__,
        )
        return False
    return True


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not _has_trgm(bind):
        return
    for name, column in INDEXES.items():
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON connections USING gin ({column} gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
