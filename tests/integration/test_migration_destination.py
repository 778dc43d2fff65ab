"""Migration 0005 binds the secrets that already exist to their current destination:
after upgrading, every stored credential still opens where it was entered for (and
its frozen list of destination fields agrees with the catalog's)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from alembic import command
from connections_app.core import migrations
from connections_app.core.connections import service
from connections_app.core.connections.models import Connection, ConnectionSecret
from connections_app.core.connections.secret_rows import current_destination
from connections_app.standin.overrides import custom_base_url
from tests.conftest import World
from tests.standin_fixtures import StandIn


def test_existing_secrets_stay_usable_across_the_migration(
    engine: Engine, db_url: str, world: World, standin: StandIn
) -> None:
    admin = world.actors["admin1"]
    with Session(engine, expire_on_commit=False) as db:
        made = [
            service.create(
                db,
                actor=admin,
                app="freshdesk",
                label="Migrated Freshdesk",
                fields={"subdomain": "northstar", "api_key": "DemoFreshdeskKey123"},
            ),
            service.create(
                db,
                actor=admin,
                app="custom_api_key",
                kind="api_key",
                label="Migrated custom",
                fields={
                    "base_url": custom_base_url(standin.url),
                    "header_name": "X-Api-Key",
                    "test_path": "/me",
                    "api_key": "demo-custom-key-0000",
                },
            ),
            service.create(
                db,
                actor=admin,
                app="stripe",
                label="Migrated Stripe",
                fields={"secret_key": "sk_test_DemoStripeKey4242424242"},
            ),
        ]
    engine.dispose()
    config = migrations.alembic_config(db_url)
    command.downgrade(config, "0004")  # as if these rows were written before 0005
    command.upgrade(config, "head")
    engine.dispose()
    with Session(engine, expire_on_commit=False) as db:
        for view in made:
            conn = db.get(Connection, view.id)
            assert conn is not None
            rows = db.exec(
                select(ConnectionSecret).where(ConnectionSecret.connection_id == view.id)
            ).all()
            assert rows and {r.destination for r in rows} == {current_destination(conn)}
            db.rollback()
            result = service.test(db, actor=admin, connection_id=view.id)
            assert result.ok, (view.label, result.message)
