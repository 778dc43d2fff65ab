"""Screens tell the truth (issue 11, item 5): a credential saved after a failed pre-save
test is recorded as such, a later success clears the old failure, test credentials
are sealed like any secret."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from connections_app.core.audit import AuditEvent
from connections_app.core.connections import service
from connections_app.core.connections.models import Connection, ConnectionSecret
from connections_app.core.errors import Forbidden, Invalid
from connections_app.core.tenancy.actor import Actor
from connections_app.core.vault import masked_tail
from connections_app.standin.app import DEMO_CREDENTIALS
from tests.conftest import World
from tests.integration.helpers import STRIPE_KEY, make_custom, make_stripe
from tests.standin_fixtures import StandIn

WRONG_KEY = "sk_test_WrongStripeKey0000000000"
_labels = iter(f"Truth {n}" for n in range(10_000))


@pytest.fixture
def admin(world: World) -> Actor:
    return world.actors["admin1"]


def _create(db: Session, admin: Actor, key: str, **kwargs):  # type: ignore[no-untyped-def]
    return service.create(
        db,
        actor=admin,
        app="stripe",
        kind="api_key",
        label=next(_labels),
        fields={"secret_key": key},
        test_first=True,
        **kwargs,
    )


def test_saving_after_a_failed_test_asks_first_and_saves_nothing(
    db: Session, admin: Actor, standin: StandIn
) -> None:
    before = len(db.exec(select(Connection)).all())
    with pytest.raises(Invalid) as asked:
        _create(db, admin, WRONG_KEY)
    assert asked.value.field == service.FAILED_TEST_FIELD
    assert str(asked.value) == (
        "This key failed its test: Stripe rejected the credentials (HTTP 401). Save anyway?"
    )
    assert WRONG_KEY not in str(asked.value)
    assert len(db.exec(select(Connection)).all()) == before


def test_saved_anyway_it_is_an_error_with_the_reason_and_the_test_is_recorded(
    db: Session, admin: Actor, standin: StandIn
) -> None:
    view = _create(db, admin, WRONG_KEY, save_if_test_fails=True)
    assert view.status == "error"
    assert view.status_reason == "Stripe rejected the credentials (HTTP 401)."
    assert view.last_tested_at is not None and view.last_test_ok is False
    created = db.exec(
        select(AuditEvent).where(AuditEvent.target_id == view.id, AuditEvent.action == "created")
    ).one()
    assert created.detail["test"] == "invalid_credentials"


def test_a_passing_pre_save_test_is_recorded_on_the_active_connection(
    db: Session, admin: Actor, standin: StandIn
) -> None:
    view = _create(db, admin, STRIPE_KEY)
    assert view.status == "active" and view.status_reason is None
    assert view.last_test_ok is True and view.last_tested_at is not None
    untested = make_stripe(db, admin)
    assert untested.last_tested_at is None  # no test in the form: none is claimed


def test_test_credentials_are_sealed_and_shown_only_as_a_tail(
    db: Session, admin: Actor, standin: StandIn
) -> None:
    view = _create(db, admin, STRIPE_KEY)
    test_key = DEMO_CREDENTIALS["stripe:test"]["secret_key"]
    after = service.rotate(
        db, actor=admin, connection_id=view.id, secrets={"secret_key": test_key}, purpose="test"
    )
    assert after.has_test_credentials and after.masked_tail == view.masked_tail
    assert after.test_masked_tail == masked_tail(test_key) and test_key not in repr(after)
    assert service.test(db, actor=admin, connection_id=view.id, purpose="test").ok
    rows = db.exec(
        select(ConnectionSecret).where(
            ConnectionSecret.connection_id == view.id, ConnectionSecret.purpose == "test"
        )
    ).all()
    assert len(rows) == 1 and test_key.encode() not in rows[0].ciphertext


def test_one_notice_per_failure_and_a_rotate_clears_the_old_failure(
    db: Session, admin: Actor, standin: StandIn
) -> None:
    view = make_stripe(db, admin, key=WRONG_KEY)
    assert service.health(db, actor=admin, connection_id=view.id).notice is None
    failed = service.test(db, actor=admin, connection_id=view.id)
    health = service.health(db, actor=admin, connection_id=view.id)
    assert health.status == "error" and health.notice == failed.message
    assert health.notice_ok is False
    service.rotate(db, actor=admin, connection_id=view.id, secrets={"secret_key": STRIPE_KEY})
    after = service.health(db, actor=admin, connection_id=view.id)
    assert after.status == "active" and after.notice is None  # no stale "HTTP 401"
    assert after.last_test_ok is None and after.last_test_message is None
    passed = service.test(db, actor=admin, connection_id=view.id)
    latest = service.health(db, actor=admin, connection_id=view.id)
    assert latest.notice == passed.message and latest.notice_ok is True


def test_an_unreachable_test_on_an_active_connection_is_its_notice(
    db: Session, admin: Actor, standin: StandIn
) -> None:
    view = _create(db, admin, STRIPE_KEY)
    standin.set_mode("stripe", "down")
    down = service.test(db, actor=admin, connection_id=view.id)
    health = service.health(db, actor=admin, connection_id=view.id)
    assert health.status == "active" and health.notice == down.message
    assert health.notice_ok is False


def test_edit_sets_test_credentials_sealed_and_refuses_a_lower_level(
    db: Session, admin: Actor, world: World, standin: StandIn
) -> None:
    view = make_stripe(db, admin, sharing="use")
    test_key = DEMO_CREDENTIALS["stripe:test"]["secret_key"]
    with pytest.raises(Forbidden):
        service.update(
            db,
            actor=world.actors["builder1"],
            connection_id=view.id,
            test_secrets={"secret_key": test_key},
        )
    after = service.update(
        db, actor=admin, connection_id=view.id, test_secrets={"secret_key": test_key}
    )
    assert after.has_test_credentials and after.test_masked_tail == masked_tail(test_key)
    assert service.test(db, actor=admin, connection_id=view.id, purpose="test").ok
    assert service.update(db, actor=admin, connection_id=view.id, test_secrets={}).id == view.id


def test_a_pending_connection_tested_since_shows_the_test_with_its_fix(
    db: Session, admin: Actor, standin: StandIn
) -> None:
    view = make_custom(db, admin, standin.url, "custom-key-for-the-notice-0001")
    service.update(
        db, actor=admin, connection_id=view.id, config={"base_url": standin.url + "/echo/x"}
    )
    moved = service.health(db, actor=admin, connection_id=view.id)
    assert moved.status == "pending" and moved.notice == moved.status_reason
    tested = service.test(db, actor=admin, connection_id=view.id)
    after = service.health(db, actor=admin, connection_id=view.id)
    assert after.status == "pending" and after.notice == tested.message
    assert "No credential is stored" in tested.message


def test_saved_anyway_during_an_outage_stays_active_with_the_failed_verdict(
    db: Session, admin: Actor, standin: StandIn
) -> None:
    standin.set_mode("stripe", "down")
    with pytest.raises(Invalid, match="failed its test"):
        _create(db, admin, STRIPE_KEY)
    view = _create(db, admin, STRIPE_KEY, save_if_test_fails=True)
    health = service.health(db, actor=admin, connection_id=view.id)
    assert view.status == "active" and view.last_test_ok is False  # the key is not judged
    assert health.notice == view.last_test_message and health.notice_ok is False
