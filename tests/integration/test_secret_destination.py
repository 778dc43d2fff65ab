"""A secret goes only where it was entered for (F5, issue "Secrets stay secret").

Reproduces the hostile review's findings against the real stand-in provider and
shows them refused: an admin (or a manage-level builder) who moves someone else's
connection to a host of their choosing and presses Test gets nothing delivered
there; an endpoint that echoes its request never gets the secret into a stored
run; a missing or tampered secret is never sent as an empty credential.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core import egress
from connections_app.core.audit import Action, AuditEvent
from connections_app.core.connections import runtime, service
from connections_app.core.connections.models import Connection, ConnectionSecret
from connections_app.core.errors import Invalid
from connections_app.core.workflows import runs
from connections_app.core.workflows import service as workflows
from connections_app.core.workflows.models import RunStep
from connections_app.standin.overrides import custom_base_url
from tests.conftest import World
from tests.integration.dbdump import dump, leaks
from tests.integration.helpers import make_custom
from tests.standin_fixtures import StandIn


def _key() -> str:
    return f"cx-canary-{secrets.token_hex(12)}"


def _captured(standin: StandIn) -> list[dict]:
    return standin.control("GET", "/captured").json()


def _rows(db: Session, conn_id: str) -> list[ConnectionSecret]:
    db.rollback()
    rows = list(
        db.exec(select(ConnectionSecret).where(ConnectionSecret.connection_id == conn_id)).all()
    )
    db.rollback()
    return rows


def _events(db: Session, conn_id: str) -> list[AuditEvent]:
    db.rollback()
    found = list(
        db.exec(
            select(AuditEvent).where(AuditEvent.connection_id == conn_id).order_by(AuditEvent.seq)  # type: ignore[arg-type]
        ).all()
    )
    db.rollback()
    return found


@pytest.mark.parametrize(
    ("owner", "editor", "sharing", "field"),
    [
        ("builder1", "admin1", "personal", "base_url"),  # Wes moves Bea's personal key
        ("admin1", "builder1", "manage", "base_url"),  # a manage-level builder moves Wes's
        ("admin1", "builder1", "manage", "header_name"),  # or changes how it is sent
    ],
)
def test_moving_the_destination_clears_the_secret_and_sends_nothing(
    db: Session,
    world: World,
    standin: StandIn,
    owner: str,
    editor: str,
    sharing: str,
    field: str,
) -> None:
    key = _key()
    view = make_custom(db, world.actors[owner], standin.url, key, sharing=sharing)
    assert service.test(db, actor=world.actors[owner], connection_id=view.id).ok
    moved = (
        {"base_url": standin.url + "/echo/attacker"}
        if field == "base_url"
        else {"header_name": "X-Debug-Echo"}
    )
    after = service.update(db, actor=world.actors[editor], connection_id=view.id, config=moved)
    assert after.status == "pending" and after.masked_tail == ""
    assert "destination was changed by" in (after.status_reason or "")
    assert _rows(db, view.id) == [], "the stored secret is gone"

    result = service.test(db, actor=world.actors[editor], connection_id=view.id)
    assert not result.ok and result.outcome == "credential_unavailable"
    assert _captured(standin) == [], "nothing reached the new destination"
    assert key not in dump(db.get_bind()), "nor is it anywhere in the database"  # type: ignore[arg-type]

    changed = [e for e in _events(db, view.id) if e.action == Action.DESTINATION_CHANGED]
    assert len(changed) == 1
    assert changed[0].actor_id == world.actors[editor].user_id
    assert changed[0].detail["destination"] == [field]
    assert changed[0].detail["cleared"] is True
    assert service.get(db, actor=world.actors[editor], connection_id=view.id).status == "pending"


def test_a_new_destination_works_once_its_secret_is_entered_in_the_same_form(
    db: Session, world: World, standin: StandIn
) -> None:
    admin = world.actors["admin1"]
    view = make_custom(db, admin, standin.url, _key(), sharing="use")
    new_key = _key()
    with pytest.raises(Invalid, match="Rotate"):  # a secret without a destination change
        service.update(db, actor=admin, connection_id=view.id, secrets={"api_key": new_key})
    with pytest.raises(Invalid):
        service.update(
            db,
            actor=admin,
            connection_id=view.id,
            config={"base_url": standin.url + "/echo/new"},
            secrets={"api_key": "short"},  # fails the field's pattern: nothing changes
        )
    assert (
        service.get(db, actor=admin, connection_id=view.id).config["base_url"].endswith("/custom")
    )
    after = service.update(
        db,
        actor=admin,
        connection_id=view.id,
        config={"base_url": standin.url + "/echo/new", "test_path": "/"},
        secrets={"api_key": new_key},
    )
    assert after.status == "active" and after.masked_tail == new_key[-4:]
    result = service.test(db, actor=admin, connection_id=view.id)
    assert result.ok, result.message
    seen = _captured(standin)
    assert len(seen) == 1 and seen[0]["headers"]["x-api-key"] == new_key
    event = [e for e in _events(db, view.id) if e.action == Action.DESTINATION_CHANGED][-1]
    assert event.detail["entered_again"] is True


def test_settings_that_are_not_destinations_keep_the_secret(
    db: Session, world: World, standin: StandIn
) -> None:
    admin = world.actors["admin1"]
    view = make_custom(db, admin, standin.url, _key(), sharing="use")
    after = service.update(
        db, actor=admin, connection_id=view.id, label="Renamed", config={"test_path": "/me"}
    )
    assert after.status == "active" and after.masked_tail
    assert len(_rows(db, view.id)) == 1
    assert service.test(db, actor=admin, connection_id=view.id).ok


def test_a_subdomain_is_a_destination_too(db: Session, world: World, standin: StandIn) -> None:
    admin = world.actors["admin1"]
    view = service.create(
        db,
        actor=admin,
        app="freshdesk",
        label=f"Freshdesk {secrets.token_hex(3)}",
        fields={"subdomain": "northstar", "api_key": "DemoFreshdeskKey123"},
    )
    after = service.update(db, actor=admin, connection_id=view.id, config={"subdomain": "evil"})
    assert after.status == "pending" and _rows(db, view.id) == []
    with pytest.raises(Invalid, match="Enter"):  # Rotate must supply the whole credential
        service.rotate(db, actor=admin, connection_id=view.id, secrets={})
    rotated = service.rotate(
        db, actor=admin, connection_id=view.id, secrets={"api_key": "DemoFreshdeskKey123"}
    )
    assert rotated.status == "active"


def test_a_secret_is_never_opened_for_a_destination_it_was_not_sealed_for(
    db: Session, engine: Engine, world: World, standin: StandIn
) -> None:
    """Defence in depth: even a write that bypasses the service cannot redirect it."""
    admin = world.actors["admin1"]
    key = _key()
    view = make_custom(db, admin, standin.url, key, sharing="use")
    db.rollback()
    row = db.get(Connection, view.id)
    assert row is not None
    row.config = {**row.config, "base_url": standin.url + "/echo/bypass"}
    db.add(row)
    db.commit()
    result = service.test(db, actor=admin, connection_id=view.id)
    assert result.outcome == "credential_unavailable" and not result.ok
    assert "another destination" in result.message
    assert _captured(standin) == []
    # The failed test marked it broken; either way a run step gets nothing out of it.
    with pytest.raises(runtime.ConnectionUnavailable), egress.client() as http:
        runtime.send(
            db,
            actor=admin,
            connection_id=view.id,
            client=http,
            request=httpx.Request("GET", standin.url + "/echo/bypass/me"),
        )
    assert _captured(standin) == []


def test_a_request_to_another_origin_never_carries_the_credential(
    db: Session, world: World, standin: StandIn
) -> None:
    admin = world.actors["admin1"]
    view = service.create(
        db,
        actor=admin,
        app="stripe",
        label=f"Stripe {secrets.token_hex(3)}",
        fields={"secret_key": "sk_test_DemoStripeKey4242424242"},
    )
    elsewhere = standin.url.replace("127.0.0.1", "localhost") + "/echo/x"
    with pytest.raises(Exception, match="own service"):
        runtime.send(
            db, actor=admin, connection_id=view.id, request=httpx.Request("GET", elsewhere)
        )
    assert _captured(standin) == []


@pytest.mark.parametrize("damage", ["deleted", "tampered"])
def test_a_missing_or_unreadable_secret_fails_closed_and_is_audited(
    db: Session, engine: Engine, world: World, standin: StandIn, damage: str
) -> None:
    admin = world.actors["admin1"]
    view = make_custom(db, admin, standin.url, _key(), sharing="use", test_path="/me")
    db.rollback()
    with engine.begin() as conn:
        if damage == "deleted":
            conn.execute(
                text("DELETE FROM connection_secrets WHERE connection_id = :c"), {"c": view.id}
            )
        else:
            conn.execute(
                text("UPDATE connection_secrets SET ciphertext = :x WHERE connection_id = :c"),
                {"x": b"\x00" * 40, "c": view.id},
            )
    calls_before = standin.control("GET", "/calls").json().get("custom:me", 0)
    for _ in range(2):  # and again: nothing is stuck after the first failure
        result = service.test(db, actor=admin, connection_id=view.id)
        assert not result.ok and result.outcome == "credential_unavailable"
        expected = "No credential is stored" if damage == "deleted" else "could not be decrypted"
        assert expected in result.message
    assert standin.control("GET", "/calls").json().get("custom:me", 0) == calls_before
    after = service.get(db, actor=admin, connection_id=view.id)
    assert after.status == "error" and "Rotate" in (after.status_reason or "")
    tested = [e for e in _events(db, view.id) if e.action == Action.TESTED]
    assert tested[-1].outcome == "failure"
    assert tested[-1].detail["reason"] == ("missing" if damage == "deleted" else "unreadable")


def test_a_missing_secret_stops_a_run_step_before_anything_is_sent(
    db: Session, engine: Engine, world: World, standin: StandIn
) -> None:
    admin = world.actors["admin1"]
    view = make_custom(db, admin, standin.url, _key(), sharing="use")
    db.rollback()
    with engine.begin() as conn:
        conn.execute(
            text("DELETE FROM connection_secrets WHERE connection_id = :c"), {"c": view.id}
        )
    with pytest.raises(runtime.CredentialUnavailable):
        runtime.send(
            db,
            actor=admin,
            connection_id=view.id,
            request=httpx.Request("GET", custom_base_url(standin.url) + "/me"),
        )
    assert standin.control("GET", "/calls").json().get("custom:me", 0) == 0
    assert [e for e in _events(db, view.id) if e.action == Action.CREDENTIAL_UNAVAILABLE]
    assert service.get(db, actor=admin, connection_id=view.id).status == "error"


def _all_spellings_absent(haystack: str, secret: str) -> list[str]:
    found = leaks(haystack, secret)
    raw = secret.encode()
    for offset in range(3):  # embedded base64 at every alignment
        core = base64.b64encode(b"\0" * offset + raw).decode()[offset + 1 : -4]
        if core and core in haystack:
            found.append(f"base64@{offset}")
    return found


def test_an_echoing_endpoint_never_gets_the_secret_into_a_stored_run(
    db: Session,
    engine: Engine,
    world: World,
    standin: StandIn,
    factory: Callable[[], Session],
) -> None:
    admin = world.actors["admin1"]
    key = _key()
    view = service.create(
        db,
        actor=admin,
        app="custom_api_key",
        kind="api_key",
        label=f"Echo {secrets.token_hex(3)}",
        fields={
            "base_url": standin.url + "/echo",
            "header_name": "X-Api-Key",
            "api_key": key,
        },
    )
    wf = workflows.create_workflow(db, actor=admin, name=f"Echo {secrets.token_hex(3)}")
    node = workflows.add_node(
        db,
        actor=admin,
        workflow_id=wf.id,
        app="custom_api_key",
        action="http_request",
        params={"path": "/reflect", "body": '{"hello": "world"}'},
    )
    workflows.set_node_connection(db, actor=admin, node_id=node.id, connection_id=view.id)
    db.rollback()  # the run works in sessions of its own (SQLite: one writer at a time)
    run_id = runs.run_now(factory, actor=admin, workflow_id=wf.id)
    seen = _captured(standin)
    assert seen and seen[-1]["headers"]["x-api-key"] == key, "the echo did receive it"
    db.rollback()
    step = db.exec(select(RunStep).where(RunStep.run_id == run_id)).one()
    assert step.status == "succeeded"
    stored = str(step.result)
    assert "••••" in stored and _all_spellings_absent(stored, key) == []
    db.rollback()
    everything = dump(engine)
    assert _all_spellings_absent(everything, key) == []
    shown = runs.get(db, actor=world.actors["viewer1"], run_id=run_id)
    assert _all_spellings_absent(str(shown), key) == []


@pytest.fixture
def factory(engine: Engine) -> Callable[[], Session]:
    return lambda: Session(engine, expire_on_commit=False)
