"""Refresh once per expiry, transient vs permanent failures, revoke (F20, F21, F23)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core import alerts, egress
from connections_app.core.audit import AuditEvent
from connections_app.core.clock import utcnow
from connections_app.core.connections import runtime, tokens
from connections_app.core.connections import service as connections
from connections_app.core.connections.models import Connection, ConnectionSecret
from connections_app.core.identity import service as identity
from connections_app.core.vault import Vault
from tests.conftest import World
from tests.integration.oauth_helpers import connect, register_clients, session_for
from tests.standin_fixtures import StandIn

_accounts = iter(f"r{n}" for n in range(10_000))


@pytest.fixture(scope="module")
def registered(engine: Engine, vault: Vault) -> None:
    register_clients(engine, vault, ("slack",))


@pytest.fixture
def token(engine: Engine, world: World, registered: None) -> str:
    return session_for(engine, world.user_ids["admin1"])


@pytest.fixture
def published() -> Iterator[list[str]]:
    seen: list[str] = []
    stop = alerts.subscribe(seen.append)
    yield seen
    stop()


def _settings(standin: StandIn, **values: object) -> None:
    standin.control("PUT", "/oauth/slack/settings", values)


def _ledger(standin: StandIn) -> dict:
    return standin.control("GET", "/oauth/ledger").json()


def _new(engine: Engine, vault: Vault, token: str) -> str:
    outcome = connect(engine, vault, token, account=next(_accounts))
    assert outcome.ok, outcome.message
    assert outcome.connection_id
    return outcome.connection_id


def _row(engine: Engine, conn_id: str) -> Connection:
    with Session(engine, expire_on_commit=False) as db:
        row = db.get(Connection, conn_id)
        assert row is not None
        return row


def _refresh(engine: Engine, vault: Vault, conn_id: str, **kw: object) -> tokens.RefreshOutcome:
    with Session(engine, expire_on_commit=False) as db:
        return tokens.refresh(db, conn_id, vault=vault, **kw)  # type: ignore[arg-type]


def test_refresh_rotates_and_is_audited(
    engine: Engine, vault: Vault, standin: StandIn, token: str
) -> None:
    conn_id = _new(engine, vault, token)
    before = _row(engine, conn_id)
    assert _refresh(engine, vault, conn_id).result == "skipped", "not due yet"
    assert _refresh(engine, vault, conn_id, force=True).result == "refreshed"
    after = _row(engine, conn_id)
    assert after.token_version == before.token_version + 1
    assert after.refresh_lease_owner is None
    assert _ledger(standin)["reuse_detected"] == 0
    # The rotated refresh token was kept: a second refresh works too.
    assert _refresh(engine, vault, conn_id, force=True).result == "refreshed"
    with Session(engine) as db:
        actions = db.exec(
            select(AuditEvent.action).where(AuditEvent.connection_id == conn_id)
        ).all()
    assert actions.count("refreshed") == 2


def _secrets(engine: Engine, conn_id: str) -> dict[str, ConnectionSecret]:
    with Session(engine, expire_on_commit=False) as db:
        rows = db.exec(select(ConnectionSecret).where(ConnectionSecret.connection_id == conn_id))
        return {row.field: row for row in rows}


@pytest.mark.parametrize("taken", ["lease", "version"])
def test_a_refresh_that_lost_its_lease_or_version_writes_nothing(
    engine: Engine, vault: Vault, standin: StandIn, token: str, taken: str
) -> None:
    """The fenced write is one UPDATE: a row whose lease went to another refresher, or
    whose token version moved on, while the call was out keeps what it had."""
    conn_id = _new(engine, vault, token)
    before, sealed_before = _row(engine, conn_id), _secrets(engine, conn_id)

    def steal() -> bool:  # runs with the lease held, before the provider call
        with Session(engine) as db:
            row = db.get(Connection, conn_id)
            assert row is not None and row.refresh_lease_owner
            if taken == "lease":
                row.refresh_lease_owner = "another-refresher"
            else:
                row.token_version += 1
            db.add(row)
            db.commit()
        return True

    assert _refresh(engine, vault, conn_id, force=True, pace=steal).result == "lost"
    after, sealed_after = _row(engine, conn_id), _secrets(engine, conn_id)
    expected_version = before.token_version + (1 if taken == "version" else 0)
    assert after.token_version == expected_version
    assert (after.secret_version, after.masked_tail) == (before.secret_version, before.masked_tail)
    assert {f: r.ciphertext for f, r in sealed_after.items()} == {
        f: r.ciphertext for f, r in sealed_before.items()
    }
    with Session(engine) as db:
        actions = db.exec(
            select(AuditEvent.action).where(AuditEvent.connection_id == conn_id)
        ).all()
    assert "refreshed" not in actions


def test_a_refresh_seals_a_token_row_that_went_meanwhile_anew(
    engine: Engine, vault: Vault, standin: StandIn, token: str
) -> None:
    """The sealed rows are overwritten in place; one that is not there (gone while the
    call was out) is sealed the long way, so the connection keeps both tokens."""
    conn_id = _new(engine, vault, token)

    def drop_access_row() -> bool:
        with Session(engine) as db:
            row = _secrets(engine, conn_id)["access_token"]
            db.delete(db.get(ConnectionSecret, row.id))
            db.commit()
        return True

    assert _refresh(engine, vault, conn_id, force=True, pace=drop_access_row).result == "refreshed"
    assert set(_secrets(engine, conn_id)) == {"access_token", "refresh_token"}
    # The rotated refresh token, sealed in place, opens and works.
    assert _refresh(engine, vault, conn_id, force=True).result == "refreshed"
    assert _ledger(standin)["reuse_detected"] == 0


def test_two_threads_refresh_once(
    engine: Engine, vault: Vault, standin: StandIn, token: str, db_url: str
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("threads on one SQLite file serialise anyway; PostgreSQL shows the race")
    conn_id = _new(engine, vault, token)
    results: list[str] = []
    barrier = threading.Barrier(2)
    other_tried = threading.Event()

    def hold() -> bool:
        # The lease holder stays inside its lease (committed, before the provider call)
        # until the other thread has tried: the two always overlap, however the threads
        # are scheduled on a loaded machine.
        other_tried.wait(timeout=10)
        return True

    def work() -> None:
        barrier.wait()
        result = _refresh(engine, vault, conn_id, force=True, pace=hold).result
        results.append(result)
        if result == "skipped":
            other_tried.set()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["refreshed", "skipped"]


def test_invalid_grant_marks_error_and_raises_an_alert(
    engine: Engine,
    vault: Vault,
    world: World,
    standin: StandIn,
    token: str,
    published: list[str],
) -> None:
    conn_id = _new(engine, vault, token)
    _settings(standin, token_mode="invalid_grant")
    outcome = _refresh(engine, vault, conn_id, force=True)
    assert outcome.result == "permanent"
    row = _row(engine, conn_id)
    assert row.status == "error" and "invalid_grant" in (row.status_reason or "")
    assert world.ws1 in published
    with Session(engine) as db:
        actor = identity.actor_for_token(db, token)
        from connections_app.core.tenancy import connections as connection_scope

        broken = connection_scope.oauth_needing_reauthorization(db, actor)
    assert conn_id in {c.id for c in broken}
    _settings(standin, token_mode="ok")
    reconnected = connect(engine, vault, token, account=row.external_identity[2:])  # type: ignore[index]
    assert reconnected.connection_id == conn_id and reconnected.outcome == "reauthorized"
    assert _row(engine, conn_id).status == "active"


def test_transient_failures_back_off_without_breaking(
    engine: Engine, vault: Vault, standin: StandIn, token: str, published: list[str]
) -> None:
    conn_id = _new(engine, vault, token)
    published.clear()  # connecting it signalled its workspace; the failure must not
    _settings(standin, token_mode="error")
    outcome = _refresh(engine, vault, conn_id, force=True)
    assert outcome.result == "transient"
    row = _row(engine, conn_id)
    assert row.status == "active" and row.refresh_failures == 1
    assert row.next_refresh_at is not None and row.next_refresh_at > utcnow()
    assert not published
    _settings(standin, token_mode="ok")
    assert _refresh(engine, vault, conn_id, force=True).result == "refreshed"
    assert _row(engine, conn_id).refresh_failures == 0


def test_no_refresh_token_means_reauthorization_at_expiry(
    engine: Engine, vault: Vault, standin: StandIn, token: str, published: list[str]
) -> None:
    _settings(standin, issue_refresh_token=False)
    conn_id = _new(engine, vault, token)
    row = _row(engine, conn_id)
    assert row.next_refresh_at == row.token_expires_at, "checked at expiry, not before"
    outcome = _refresh(engine, vault, conn_id, force=True)
    assert outcome.result == "permanent" and "no refresh token" in outcome.message
    assert _row(engine, conn_id).status == "error"
    assert published


def test_runtime_refreshes_an_expired_token_on_demand(
    engine: Engine, vault: Vault, standin: StandIn, token: str
) -> None:
    conn_id = _new(engine, vault, token)
    standin.control("POST", "/oauth/slack/expire")
    with Session(engine) as db:
        row = db.get(Connection, conn_id)
        assert row is not None
        row.token_expires_at = utcnow() - timedelta(seconds=1)
        db.add(row)
        db.commit()
    with Session(engine, expire_on_commit=False) as db, egress.client() as http:
        actor = identity.actor_for_token(db, token)
        request = httpx.Request("POST", f"{standin.url}/slack/api/auth.test")
        response = runtime.send(
            db, actor=actor, connection_id=conn_id, request=request, client=http
        )
    assert response.status_code == 200
    assert _row(engine, conn_id).token_expires_at > utcnow()  # type: ignore[operator]


def test_unknown_expiry_refreshes_on_401_once(
    engine: Engine, vault: Vault, standin: StandIn, token: str
) -> None:
    _settings(standin, include_expires_in=False)
    conn_id = _new(engine, vault, token)
    assert _row(engine, conn_id).token_expires_at is None
    standin.control("POST", "/oauth/slack/expire")
    with Session(engine, expire_on_commit=False) as db, egress.client() as http:
        actor = identity.actor_for_token(db, token)
        request = httpx.Request("POST", f"{standin.url}/slack/api/auth.test")
        response = runtime.send(
            db, actor=actor, connection_id=conn_id, request=request, client=http
        )
    assert response.status_code == 200
    assert _row(engine, conn_id).status == "active"


def test_revoke_destroys_tokens_and_tells_the_provider(
    engine: Engine, vault: Vault, standin: StandIn, token: str
) -> None:
    conn_id = _new(engine, vault, token)
    with Session(engine, expire_on_commit=False) as db:
        actor = identity.actor_for_token(db, token)
        assert tokens.revoke(db, actor=actor, connection_id=conn_id, vault=vault).provider_confirmed
    assert _ledger(standin)["revocations"], "the provider heard about it"
    row = _row(engine, conn_id)
    assert row.status == "revoked"
    with Session(engine, expire_on_commit=False) as db:
        actor = identity.actor_for_token(db, token)
        view = connections.get(db, actor=actor, connection_id=conn_id)
        health = connections.health(db, actor=actor, connection_id=conn_id)
    # The read-model decides: no masked tail and no expiry for a credential that is gone.
    assert row.masked_tail != "" and view.masked_tail == "" and view.token_expires_at is None
    assert health.token_expires_at is None
    with Session(engine) as db:
        left = db.exec(
            select(ConnectionSecret).where(ConnectionSecret.connection_id == conn_id)
        ).all()
    assert left == []
    with Session(engine, expire_on_commit=False) as db, egress.client() as http:
        actor = identity.actor_for_token(db, token)
        with pytest.raises(runtime.ConnectionUnavailable):
            runtime.send(
                db,
                actor=actor,
                connection_id=conn_id,
                request=httpx.Request("POST", f"{standin.url}/slack/api/auth.test"),
                client=http,
            )


def test_an_outage_breaks_nothing_and_everything_refreshes_after_recovery(
    engine: Engine, vault: Vault, standin: StandIn, token: str, published: list[str]
) -> None:
    ids = [_new(engine, vault, token) for _ in range(10)]
    published.clear()  # connecting them signalled; an outage must not (nor the recovery)

    def make_due() -> None:
        with Session(engine) as db:
            for conn_id in ids:
                row = db.get(Connection, conn_id)
                assert row is not None
                row.next_refresh_at = utcnow() - timedelta(seconds=1)
                db.add(row)
            db.commit()

    def one_pass() -> dict[str, int]:
        return tokens.refresh_due(lambda: Session(engine), vault=vault, owner="test", limit=500)

    _settings(standin, token_mode="error")
    for _ in range(3):  # the provider stays down over several passes
        make_due()
        counts = one_pass()
        assert counts.get("transient", 0) >= len(ids)
    rows = [_row(engine, i) for i in ids]
    assert {r.status for r in rows} == {"active"}
    assert all(r.refresh_failures == 3 for r in rows)
    assert not published

    _settings(standin, token_mode="ok")
    make_due()
    counts = one_pass()
    assert counts.get("refreshed", 0) >= len(ids)
    rows = [_row(engine, i) for i in ids]
    assert {r.status for r in rows} == {"active"}
    assert all(r.refresh_failures == 0 for r in rows)


def test_refresh_now_is_allowed_to_whoever_may_rotate_and_audited_as_them(
    engine: Engine, vault: Vault, world: World, standin: StandIn, token: str
) -> None:
    from connections_app.core.errors import Forbidden

    conn_id = _new(engine, vault, token)
    with Session(engine, expire_on_commit=False) as db:
        admin = identity.actor_for_token(db, token)
        outcome = tokens.refresh_now(db, actor=admin, connection_id=conn_id, vault=vault)
        assert outcome.result == "refreshed"
        with pytest.raises(Forbidden):
            tokens.refresh_now(
                db, actor=world.actors["viewer1"], connection_id=conn_id, vault=vault
            )
        events = db.exec(
            select(AuditEvent).where(AuditEvent.connection_id == conn_id).order_by(AuditEvent.seq)  # type: ignore[arg-type]
        ).all()
    refreshed = [e for e in events if e.action == "refreshed"]
    assert refreshed[-1].actor_id == admin.user_id and refreshed[-1].actor_label == admin.label
    denied = [e for e in events if e.action == "access_denied"]
    assert denied and denied[-1].actor_id == world.actors["viewer1"].user_id
