"""Migration 0011 creates `client_invitations` exactly as the model declares it, and
goes down and up again cleanly (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from alembic import command
from connections_app.core import migrations
from connections_app.core.models import metadata


def _diffs(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        found = compare_metadata(MigrationContext.configure(conn), metadata)
    return [d for d in found if "client_invitations" in repr(d)]


def test_client_invitations_table_matches_the_model_down_and_up(
    engine: Engine, db_url: str
) -> None:
    assert _diffs(engine) == []
    config = migrations.alembic_config(db_url)
    engine.dispose()
    command.downgrade(config, "0010")
    assert "client_invitations" not in inspect(engine).get_table_names()
    engine.dispose()
    command.upgrade(config, "head")
    engine.dispose()
    assert "client_invitations" in inspect(engine).get_table_names()
    assert _diffs(engine) == []
    unique = {
        tuple(u["column_names"])
        for u in inspect(engine).get_unique_constraints("client_invitations")
    }
    indexes = {tuple(i["column_names"]) for i in inspect(engine).get_indexes("client_invitations")}
    assert ("token_hash",) in unique | indexes
