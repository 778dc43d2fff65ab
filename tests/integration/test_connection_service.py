"""The connection service against the real stand-in provider (and real PostgreSQL for DSNs).

Covers what the role matrix and the canary tests do not: each form kind, the
three test verdicts, rotation taking effect, several instances of one app,
recording use, server-side search/filter/paging, and the demo seed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, select

from connections_app.core import demo, egress
from connections_app.core.catalog import reset_catalog_cache
from connections_app.core.connections import runtime, service
from connections_app.core.connections.models import Connection, ConnectionSecret
from connections_app.core.errors import Conflict, Invalid
from connections_app.core.identity.models import Account, Workspace
from connections_app.core.tenancy.actor import Actor, Role
from connections_app.core.vault import Vault
from connections_app.standin.overrides import custom_base_url
from tests.conftest import World
from tests.integration.helpers import STRIPE_KEY, allow_egress, make_stripe
from tests.standin_fixtures import StandIn, free_port

WRONG_STRIPE_KEY = "sk_test_WrongStripeKey0000000000"


@pytest.fixture
def admin(world: World) -> Actor:
    return world.actors["admin1"]


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _secret_rows(db: Session, conn_id: str) -> list[ConnectionSecret]:
    return list(db.exec(select(ConnectionSecret).where(ConnectionSecret.connection_id == conn_id)))


def test_each_form_kind_creates_a_working_connection(
    db: Session, admin: Actor, standin: StandIn
) -> None:
    twilio = service.create(
        db,
        actor=admin,
        app="twilio",
        label="Twilio basic",
        fields={
            "account_sid": "AC0123456789abcdef0123456789abcdef",
            "auth_token": "fedcba9876543210fedcba9876543210",
        },
    )
    assert twilio.kind == "basic"
    assert twilio.config == {"account_sid": "AC0123456789abcdef0123456789abcdef"}
    assert twilio.masked_tail == "3210"
    freshdesk = service.create(
        db,
        actor=admin,
        app="freshdesk",
        label="Freshdesk extra field",
        fields={"subdomain": "northstar", "api_key": "DemoFreshdeskKey123"},
    )
    custom = service.create(
        db,
        actor=admin,
        app="custom_api_key",
        label="Custom header key",
        fields={
            "base_url": custom_base_url(standin.url),
            "header_name": "X-Api-Key",
            "test_path": "/me",
            "api_key": "demo-custom-key-0000",
        },
    )
    assert custom.config is not None and custom.config["header_name"] == "X-Api-Key"
    for view in (twilio, freshdesk, custom):
        result = service.test(db, actor=admin, connection_id=view.id)
        assert result.ok, (view.label, result.message)
        assert result.outcome == "valid"
    assert len(_secret_rows(db, twilio.id)) == 1, "only the secret field is sealed"


def test_a_wrong_subdomain_is_not_mistaken_for_a_bad_key(
    db: Session, admin: Actor, standin: StandIn
) -> None:
    view = service.create(
        db,
        actor=admin,
        app="freshdesk",
        label="Freshdesk wrong subdomain",
        fields={"subdomain": "someone-else", "api_key": "DemoFreshdeskKey123"},
    )
    result = service.test(db, actor=admin, connection_id=view.id)
    assert not result.ok
    assert result.outcome in ("invalid_credentials", "unexpected_response")


def test_dsn_connection_against_a_real_database(
    db: Session, admin: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = os.environ.get("TEST_DB_URL")
    if not server:
        pytest.skip("TEST_DB_URL not set: no PostgreSQL to point a DSN at")
    url = make_url(server)
    good = url.set(drivername="postgresql").render_as_string(hide_password=False)
    # The database is on loopback: refused until an operator allows it.
    refused = service.test_unsaved(db, actor=admin, app="postgresql", fields={"dsn": good})
    assert (refused.ok, refused.outcome) == (False, "refused_destination")
    assert "loopback" in refused.message and "CONNECTIONS_EGRESS_ALLOW" in refused.message
    allow_egress(monkeypatch, f"{url.host}:{url.port or 5432}")
    view = service.create(
        db, actor=admin, app="postgresql", label="Warehouse", fields={"dsn": good}
    )
    assert view.kind == "dsn"
    assert service.test(db, actor=admin, connection_id=view.id).ok
    port = free_port()
    allow_egress(monkeypatch, f"127.0.0.1:{port}")
    closed = f"postgresql://nobody:wrong@127.0.0.1:{port}/nothing"
    unreachable = service.test_unsaved(db, actor=admin, app="postgresql", fields={"dsn": closed})
    assert (unreachable.ok, unreachable.outcome) == (False, "unreachable")
    socket_dsn = "postgresql://nobody:wrong@/nothing?host=/var/run/postgresql"
    local = service.test_unsaved(db, actor=admin, app="postgresql", fields={"dsn": socket_dsn})
    assert (local.ok, local.outcome) == (False, "refused_destination")


def test_three_verdicts_in_plain_words(db: Session, admin: Actor, standin: StandIn) -> None:
    good = make_stripe(db, admin)
    bad = make_stripe(db, admin, key=WRONG_STRIPE_KEY)

    valid = service.test(db, actor=admin, connection_id=good.id)
    assert (valid.ok, valid.outcome, valid.http_status) == (True, "valid", 200)

    invalid = service.test(db, actor=admin, connection_id=bad.id)
    assert (invalid.ok, invalid.outcome, invalid.http_status) == (False, "invalid_credentials", 401)
    assert WRONG_STRIPE_KEY not in invalid.message
    after = service.get(db, actor=admin, connection_id=bad.id)
    assert after.status == "error" and after.status_reason
    assert after.last_test_ok is False

    standin.set_mode("stripe", "down")
    down = service.test(db, actor=admin, connection_id=good.id)
    assert (down.ok, down.outcome, down.http_status) == (False, "unreachable", 503)
    assert "503" in down.message
    still = service.get(db, actor=admin, connection_id=good.id)
    assert still.status == "active", "an outage must not mark a good credential broken"


def test_network_failure_names_the_error_class(
    db: Session, admin: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    allow_egress(monkeypatch, f"127.0.0.1:{port}")  # allowed, but nothing listens there
    monkeypatch.setenv("CONNECTIONS_APP_STRIPE_BASE_URL", f"http://127.0.0.1:{port}/v1")
    reset_catalog_cache()
    try:
        result = service.test_unsaved(
            db, actor=admin, app="stripe", fields={"secret_key": STRIPE_KEY}
        )
    finally:
        monkeypatch.undo()
        reset_catalog_cache()
    assert (result.ok, result.outcome) == (False, "unreachable")
    assert "could not connect" in result.message
    assert STRIPE_KEY not in result.message


def test_unsaved_test_stores_nothing(db: Session, admin: Actor, standin: StandIn) -> None:
    before = db.exec(select(Connection)).all()
    ok = service.test_unsaved(db, actor=admin, app="stripe", fields={"secret_key": STRIPE_KEY})
    bad = service.test_unsaved(db, actor=admin, app="stripe", fields={"secret_key": "nope"})
    assert ok.ok and not bad.ok and bad.outcome == "invalid_input"
    assert len(db.exec(select(Connection)).all()) == len(before)


def test_rotation_takes_effect_on_the_next_request_and_the_old_secret_is_gone(
    db: Session, admin: Actor, standin: StandIn, vault: Vault
) -> None:
    view = make_stripe(db, admin)
    old_rows = {(r.nonce, r.ciphertext) for r in _secret_rows(db, view.id)}
    new_key = "sk_test_RotatedStripeKey777777777"
    standin.control("PUT", "/credentials/stripe", {"secret_key": new_key})
    assert not service.test(db, actor=admin, connection_id=view.id).ok
    assert service.get(db, actor=admin, connection_id=view.id).status == "error"

    rotated = service.rotate(
        db, actor=admin, connection_id=view.id, secrets={"secret_key": new_key}
    )
    assert rotated.masked_tail == "7777"
    assert rotated.status == "active", "a rotated credential is tried afresh"
    rows = _secret_rows(db, view.id)
    assert len(rows) == 1
    assert {(r.nonce, r.ciphertext) for r in rows}.isdisjoint(old_rows)

    request = httpx.Request("GET", f"{standin.url}/stripe/v1/balance")
    with egress.client() as client:
        response = runtime.send(
            db, actor=admin, connection_id=view.id, request=request, client=client
        )
    assert response.status_code == 200


def test_rotate_refuses_config_fields_and_empty_input(db: Session, admin: Actor) -> None:
    view = service.create(
        db,
        actor=admin,
        app="freshdesk",
        label="Freshdesk rotate",
        fields={"subdomain": "northstar", "api_key": "DemoFreshdeskKey123"},
    )
    with pytest.raises(Invalid):
        service.rotate(db, actor=admin, connection_id=view.id, secrets={"subdomain": "other"})
    with pytest.raises(Invalid):
        service.rotate(db, actor=admin, connection_id=view.id, secrets={})
    assert service.get(db, actor=admin, connection_id=view.id).config == {"subdomain": "northstar"}


def test_several_instances_of_one_app_are_independent(
    db: Session, admin: Actor, standin: StandIn
) -> None:
    first = make_stripe(db, admin, label="Stripe EU")
    second = make_stripe(db, admin, key=WRONG_STRIPE_KEY, label="Stripe US")
    assert first.stable_key != second.stable_key
    assert service.test(db, actor=admin, connection_id=first.id).ok
    assert not service.test(db, actor=admin, connection_id=second.id).ok
    with pytest.raises(Conflict, match="Stripe eu"):
        make_stripe(db, admin, label="Stripe eu")


def test_use_is_recorded(db: Session, admin: Actor, standin: StandIn) -> None:
    view = make_stripe(db, admin)
    with egress.client() as client:
        for _ in range(3):
            request = httpx.Request("GET", f"{standin.url}/stripe/v1/balance")
            runtime.send(db, actor=admin, connection_id=view.id, request=request, client=client)
    after = service.get(db, actor=admin, connection_id=view.id)
    assert after.use_count == 3
    assert after.last_used_at is not None
    health = service.health(db, actor=admin, connection_id=view.id)
    assert health.last_success_at is not None


def test_oauth_records_are_not_created_through_the_form(db: Session, admin: Actor) -> None:
    with pytest.raises(Invalid, match="Connect"):
        service.create(
            db, actor=admin, app="slack", kind="oauth2", label="Slack via form", fields={}
        )


def test_search_filter_and_paging_happen_in_the_database(
    db: Session, world: World, standin: StandIn
) -> None:
    actor = world.actors["admin2"]
    for n in range(30):
        make_stripe(db, actor, label=f"Paging stripe {n:02d}")
    service.create(
        db,
        actor=actor,
        app="twilio",
        label="Paging twilio",
        fields={
            "account_sid": "AC0123456789abcdef0123456789abcdef",
            "auth_token": "fedcba9876543210fedcba9876543210",
        },
    )
    page1 = service.list_connections(db, actor=actor, search="paging", page_size=25)
    assert (page1.total, len(page1.items), page1.pages) == (31, 25, 2)
    page2 = service.list_connections(db, actor=actor, search="paging", page=2, page_size=25)
    assert len(page2.items) == 6
    assert not {v.id for v in page1.items} & {v.id for v in page2.items}
    only_basic = service.list_connections(db, actor=actor, kind="basic")
    assert [v.label for v in only_basic.items] == ["Paging twilio"]
    by_app = service.list_connections(db, actor=actor, app="twilio")
    assert by_app.total == 1
    by_name = service.list_connections(db, actor=actor, search="Twili")
    assert by_name.total == 1
    literal = service.list_connections(db, actor=actor, search="%")
    assert literal.total == 0, "LIKE wildcards in a search are literal"
    with pytest.raises(Invalid):
        service.list_connections(db, actor=actor, status="sideways")


def test_delete_reports_usages_and_removes_the_secrets(
    db: Session, admin: Actor, standin: StandIn
) -> None:
    view = make_stripe(db, admin)
    result = service.delete(db, actor=admin, connection_id=view.id)
    assert result.label == view.label
    assert result.broken_usages == []
    assert _secret_rows(db, view.id) == []
    assert db.get(Connection, view.id) is None


def test_demo_seed_is_idempotent_and_every_seeded_connection_works(
    engine: Engine, vault: Vault, standin: StandIn
) -> None:
    with Session(engine, expire_on_commit=False) as db:
        first = demo.seed_demo(db, vault=vault)
        second = demo.seed_demo(db, vault=vault)
    assert f"({len(demo.CONNECTIONS)} connections added)" in first
    assert "(0 connections added)" in second
    with Session(engine, expire_on_commit=False) as db:
        account = db.exec(select(Account).where(Account.slug == demo.ACCOUNT_SLUG)).one()
        spaces = {
            ws.slug: ws
            for ws in db.exec(select(Workspace).where(Workspace.account_id == account.id))
        }
        assert set(spaces) == {slug for slug, _ in demo.WORKSPACES}
        checked = 0
        for slug, ws in spaces.items():
            actor = Actor.operator(account_id=ws.account_id, workspace_id=ws.id, label="test")
            assert actor.role == Role.ADMIN or actor.is_account_admin
            page = service.list_connections(db, actor=actor, page_size=100)
            seeded = [c for c in demo.CONNECTIONS if c[0] == slug]
            assert page.total == len(seeded)
            for view in page.items:
                result = service.test(db, actor=actor, connection_id=view.id)
                assert result.ok, f"demo connection {view.label}: {result.message}"
                checked += 1
        assert checked == len(demo.CONNECTIONS)


def test_client_credentials_app_fetches_and_renews_its_own_token(
    db: Session, admin: Actor, standin: StandIn, vault: Vault
) -> None:
    from connections_app.core.connections import tokens
    from connections_app.standin.oauth import client_id_for, client_secret_for

    fields = {"client_id": client_id_for("paypal"), "client_secret": client_secret_for("paypal")}
    tested = service.test_unsaved(db, actor=admin, app="paypal", fields=fields)
    assert tested.ok, tested.message
    bad = service.test_unsaved(
        db, actor=admin, app="paypal", fields={**fields, "client_secret": "wrong-secret-1"}
    )
    assert not bad.ok and bad.outcome == "invalid_credentials"
    with pytest.raises(Invalid, match="refused"):
        service.create(
            db,
            actor=admin,
            app="paypal",
            label="PayPal bad",
            fields={**fields, "client_secret": "wrong-secret-1"},
        )
    view = service.create(db, actor=admin, app="paypal", label="PayPal payouts", fields=fields)
    assert (view.kind, view.status) == ("oauth2", "active")
    assert view.masked_tail == client_secret_for("paypal")[-4:]
    assert view.token_expires_at is not None
    assert service.test(db, actor=admin, connection_id=view.id).ok
    before = db.get(Connection, view.id)
    assert before is not None and before.next_refresh_at is not None
    version = before.token_version
    outcome = tokens.refresh(db, view.id, vault=vault, force=True)
    assert outcome.result == "refreshed", outcome.message
    db.expire_all()
    after = db.get(Connection, view.id)
    assert after is not None and after.token_version == version + 1
