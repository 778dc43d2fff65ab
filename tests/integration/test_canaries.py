"""Invariants 4 and 5: 100 canary secrets leave no trace in the database or the logs,
and a ciphertext moved to another connection or workspace does not decrypt."""

from __future__ import annotations

import io
import logging
import secrets

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core import egress
from connections_app.core.connections import connect_links, runtime, service
from connections_app.core.connections.models import ConnectionSecret
from connections_app.core.logging_setup import JsonFormatter
from connections_app.core.redaction import RedactingFilter
from tests.conftest import World
from tests.integration.dbdump import dump, leaks
from tests.integration.helpers import STRIPE_KEY
from tests.standin_fixtures import StandIn


@pytest.fixture
def captured_logs() -> io.StringIO:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_hundred_canaries_never_reach_the_database_or_logs(
    engine: Engine, world: World, standin: StandIn, captured_logs: io.StringIO
) -> None:
    canaries = [f"sk_test_CANARY{secrets.token_hex(12)}" for _ in range(100)]
    actor = world.actors["admin1"]
    standin.control("PUT", "/credentials/stripe", {"secret_key": canaries[0]})
    log = logging.getLogger("connections_app.test")
    with Session(engine) as db:
        for i, canary in enumerate(canaries):
            view = service.create(
                db, actor=actor, app="stripe", label=f"Canary {i}", fields={"secret_key": canary}
            )
            assert view.masked_tail == canary[-4:]
            # Code that carelessly logs a secret is still scrubbed by the filter.
            log.warning("created %s with %s", view.id, canary)
        for view in service.list_connections(db, actor=actor, search="Canary", page_size=5).items:
            service.test(db, actor=actor, connection_id=view.id)  # valid for Canary 0 only
        first = service.list_connections(db, actor=actor, search="Canary 0", page_size=1).items[0]
        assert first.label == "Canary 0" and first.last_test_ok
        with egress.client() as client:
            response = runtime.send(
                db,
                actor=actor,
                connection_id=first.id,
                client=client,
                request=httpx.Request("GET", f"{standin.url}/stripe/v1/balance"),
            )
        assert response.status_code == 200
        # A rotation leaves the old value nowhere either.
        rotated = f"sk_test_CANARY{secrets.token_hex(12)}"
        service.rotate(db, actor=actor, connection_id=first.id, secrets={"secret_key": rotated})
        canaries.append(rotated)
    database = dump(engine)
    logs = captured_logs.getvalue()
    assert "CANARY" not in database
    found = {c: leaks(database, c) + leaks(logs, c) for c in canaries}
    assert {c: where for c, where in found.items() if where} == {}
    assert logs.count("[REDACTED]") >= 100


def _two_connections(db: Session, world: World, admin_b: str) -> tuple[str, str]:
    a = service.create(
        db,
        actor=world.actors["admin1"],
        app="stripe",
        label=f"From {admin_b}",
        fields={"secret_key": STRIPE_KEY},
    )
    b = service.create(
        db,
        actor=world.actors[admin_b],
        app="stripe",
        label=f"To {admin_b}",
        fields={"secret_key": "sk_test_MoveToKey00000000000"},
    )
    return a.id, b.id


@pytest.mark.parametrize(
    "target_admin", ["admin1", "admin2"], ids=["same-workspace", "other-workspace"]
)
def test_a_moved_ciphertext_does_not_decrypt(
    engine: Engine, world: World, standin: StandIn, target_admin: str
) -> None:
    with Session(engine) as db:
        source, target = _two_connections(db, world, target_admin)
        row_a = db.exec(
            select(ConnectionSecret).where(ConnectionSecret.connection_id == source)
        ).one()
        db.execute(
            text(
                "UPDATE connection_secrets SET ciphertext = :c, nonce = :n, key_version = :v "
                "WHERE connection_id = :t"
            ),
            {"c": row_a.ciphertext, "n": row_a.nonce, "v": row_a.key_version, "t": target},
        )
        db.commit()
        with pytest.raises(runtime.CredentialUnavailable), egress.client() as client:
            runtime.send(
                db,
                actor=world.actors[target_admin],
                connection_id=target,
                client=client,
                request=httpx.Request("GET", f"{standin.url}/stripe/v1/balance"),
            )
        # The source still works: nothing else was disturbed.
        result = service.test(db, actor=world.actors["admin1"], connection_id=source)
        assert result.ok, result.message


def test_a_key_entered_through_a_connect_link_leaves_no_trace(
    engine: Engine, world: World, captured_logs: io.StringIO
) -> None:
    """F24: a client's key takes the form path (service → secret_rows → vault) too."""
    canary = f"sk_test_LINKCANARY{secrets.token_hex(12)}"
    client = world.actors["client1"]
    with Session(engine) as db:
        asked = connect_links.request(
            db, world.actors["admin1"], app="stripe", label="Canary link", client_user_id=None
        )
    with Session(engine) as db:
        view = connect_links.complete_with_credentials(
            db, client, link_id=asked.link.id, fields={"secret_key": canary}
        )
    assert view.masked_tail == canary[-4:]
    assert leaks(dump(engine), canary) == []
    assert leaks(dump(engine), asked.token) == []
    assert leaks(captured_logs.getvalue(), canary) == []
