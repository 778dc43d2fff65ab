"""Schema version checks and upgrades, shared by the web app, the CLI and the tests.

The web app refuses to start on a database that is not at the newest migration:
serving pages over a half-migrated schema fails later, per request, with errors
no operator can act on. One clear sentence at start-up is better.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from alembic import command

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


def ensure_current(engine: Engine) -> None:
    """Raise SchemaNotCurrent with an actionable message unless the DB is at head."""
    head = head_revision(str(engine.url))
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
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
