"""Schema version checks and upgrades, shared by the web app, the CLI and the tests.

The web app refuses to start on a database that is not at the newest migration:
serving pages over a half-migrated schema fails later, per request, with errors
no operator can act on. One clear sentence at start-up is better.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from alembic import command
from connections_app.core.db import read_scope

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class SchemaNotCurrent(RuntimeError):
    """The database is missing, empty or behind the code's migrations."""


def alembic_config(db_url: str) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    cfg.attributes["db_url"] = db_url
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(db_url: str) -> None:
    command.upgrade(alembic_config(db_url), "head")


def head_revision(db_url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()


@lru_cache(maxsize=1)
def _code_head() -> str | None:
    """The newest migration in this code: read once (`/readyz` asks on every probe)."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None without a schema. Read in a read-only
    transaction (no SQLite write lock) and straight from `alembic_version`: Alembic's
    MigrationContext logs two INFO lines per call, a load balancer's probe each time."""
    with read_scope(engine) as db:
        conn = db.connection()
        if not inspect(conn).has_table("alembic_version"):
            return None
        revisions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return ",".join(sorted(revisions)) or None


def ensure_current(engine: Engine) -> None:
    """Raise SchemaNotCurrent with an actionable message unless the DB is at head."""
    head = _code_head()
    current = current_revision(engine)
    if current is None:
        raise SchemaNotCurrent(
            "The database has no schema yet. Run `make migrate` "
            "(or `connections-admin db upgrade`) before starting the app."
        )
    if current != head:
        raise SchemaNotCurrent(
            f"The database schema is at revision {current}, the code needs {head}. "
            "Run `make migrate` (or `connections-admin db upgrade`)."
        )
