"""Requests made with connections go only where the egress policy allows, end to end.

Only loopback is used: the stand-in's own address is allowed (the stand-in fixture
sets CONNECTIONS_EGRESS_ALLOW to exactly its host and port); everything else on
loopback — another port, 127.0.0.2, [::1], the decimal spelling of 127.0.0.1 — is
refused with a message, also when the allowed stand-in redirects there. A listener
on a refused port proves that nothing arrived.
"""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core import egress
from connections_app.core.audit import Action, AuditEvent
from connections_app.core.connections import runtime, service
from connections_app.core.workflows import runs
from connections_app.core.workflows.models import RunStep
from connections_app.standin.overrides import custom_base_url
from tests.conftest import World
from tests.integration.helpers import make_custom, workflow_with_node
from tests.standin_fixtures import StandIn

KEY = "cx-egress-canary-0123456789"


class Listener:
    """A TCP listener on loopback that counts connection attempts (and answers none)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.close()


def _targets(port: int, standin_port: int) -> dict[str, str]:
    return {
        "another port": f"http://127.0.0.1:{port}",
        "127.0.0.2": f"http://127.0.0.2:{standin_port}",
        "[::1]": f"http://[::1]:{standin_port}",
        "decimal": f"http://2130706433:{port}",
        "localhost": f"http://localhost:{port}",
    }


@pytest.mark.parametrize("which", ["another port", "127.0.0.2", "[::1]", "decimal", "localhost"])
def test_loopback_destinations_other_than_the_stand_in_are_refused(
    db: Session, world: World, standin: StandIn, listener: Listener, which: str
) -> None:
    admin = world.actors["admin1"]
    port = httpx.URL(standin.url).port or 0
    target = _targets(listener.port, port)[which]
    view = make_custom(db, admin, standin.url, KEY, base_url=target)
    result = service.test(db, actor=admin, connection_id=view.id)
    assert not result.ok and result.outcome == "refused_destination", result.message
    assert "loopback" in result.message and egress.ALLOW_VAR in result.message
    assert KEY not in result.message
    assert listener.accepted == 0
    unsaved = service.test_unsaved(
        db,
        actor=admin,
        app="custom_api_key",
        kind="api_key",
        fields={"base_url": target, "header_name": "X-Api-Key", "api_key": KEY},
    )
    assert unsaved.outcome == "refused_destination" and listener.accepted == 0


def test_the_allowed_stand_in_is_reached(db: Session, world: World, standin: StandIn) -> None:
    view = make_custom(
        db, world.actors["admin1"], standin.url, KEY, base_url=custom_base_url(standin.url)
    )
    assert service.test(db, actor=world.actors["admin1"], connection_id=view.id).ok


def test_a_redirect_to_a_refused_address_is_not_followed(
    db: Session, world: World, standin: StandIn, listener: Listener
) -> None:
    admin = world.actors["admin1"]
    hop = f"/x?to=http://127.0.0.1:{listener.port}/steal"
    view = make_custom(
        db, admin, standin.url, KEY, base_url=standin.url + "/redirect", test_path=hop
    )
    result = service.test(db, actor=admin, connection_id=view.id)
    assert result.outcome == "refused_destination" and "loopback" in result.message
    assert listener.accepted == 0
    assert standin.control("GET", "/calls").json().get("redirect") == 1


def test_a_redirect_to_another_allowed_host_is_not_followed_with_the_credential(
    db: Session, world: World, standin: StandIn
) -> None:
    admin = world.actors["admin1"]
    port = httpx.URL(standin.url).port
    # localhost resolves to the allowed 127.0.0.1:port, but it is another origin.
    hop = f"/x?to=http://localhost:{port}/echo/landed"
    view = make_custom(
        db, admin, standin.url, KEY, base_url=standin.url + "/redirect", test_path=hop
    )
    result = service.test(db, actor=admin, connection_id=view.id)
    assert result.outcome == "refused_destination" and "another host" in result.message
    assert standin.control("GET", "/captured").json() == []


def test_a_same_origin_redirect_is_followed(db: Session, world: World, standin: StandIn) -> None:
    admin = world.actors["admin1"]
    view = make_custom(
        db,
        admin,
        standin.url,
        KEY,
        base_url=standin.url + "/redirect",
        test_path="/x?to=/custom/me",
    )
    result = service.test(db, actor=admin, connection_id=view.id)
    assert result.ok, result.message


def test_a_run_step_to_a_refused_address_fails_with_the_message(
    db: Session, engine: Engine, world: World, standin: StandIn, listener: Listener
) -> None:
    admin = world.actors["admin1"]
    view = make_custom(db, admin, standin.url, KEY, base_url=f"http://127.0.0.2:{listener.port}")
    wf, _ = workflow_with_node(
        db,
        admin,
        f"Egress {secrets.token_hex(3)}",
        view.id,
        {"path": "/auth/sign-out"},
        app="custom_api_key",
        action="http_request",
    )
    db.rollback()
    run_id = runs.run_now(
        lambda: Session(engine, expire_on_commit=False), actor=admin, workflow_id=wf.id
    )
    step = db.exec(select(RunStep).where(RunStep.run_id == run_id)).one()
    assert step.status == "failed" and "loopback" in (step.message or "")
    assert step.result in ({}, None)
    assert listener.accepted == 0


def test_unsaved_tests_are_audited_without_values(
    db: Session, world: World, standin: StandIn
) -> None:
    admin = world.actors["admin1"]
    standin.control("PUT", "/credentials/custom", {"header": "X-Api-Key", "value": KEY})
    for api_key in (KEY, "wrong-key-000000"):
        service.test_unsaved(
            db,
            actor=admin,
            app="custom_api_key",
            kind="api_key",
            fields={
                "base_url": custom_base_url(standin.url),
                "header_name": "X-Api-Key",
                "test_path": "/me",
                "api_key": api_key,
            },
        )
    db.rollback()
    events = db.exec(
        select(AuditEvent)
        .where(AuditEvent.action == Action.UNSAVED_TESTED)
        .where(AuditEvent.actor_id == admin.user_id)
        .order_by(AuditEvent.seq.desc())  # type: ignore[attr-defined]
        .limit(2)
    ).all()
    db.rollback()
    assert [e.outcome for e in events] == ["failure", "success"]
    for event in events:
        assert event.detail["host"] == "127.0.0.1" and event.detail["app"] == "custom_api_key"
        assert KEY not in str(event.detail)


def test_requests_need_a_guarded_client(db: Session, world: World, standin: StandIn) -> None:
    view = make_custom(
        db, world.actors["admin1"], standin.url, KEY, base_url=custom_base_url(standin.url)
    )
    with pytest.raises(TypeError), httpx.Client() as plain:
        runtime.send(
            db,
            actor=world.actors["admin1"],
            connection_id=view.id,
            client=plain,
            request=httpx.Request("GET", custom_base_url(standin.url) + "/me"),
        )
