"""The refresher when the provider pushes back, with a real `connections-admin
refresher` process against the stand-in: a 429's Retry-After is waited out before the
next token request, a 5xx is backed off and retried, and neither marks a connection
as failed. Each connection is still refreshed exactly once."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.audit import Action, AuditEvent
from connections_app.core.clock import utcnow
from connections_app.core.connections.models import Connection
from connections_app.core.vault import Vault
from connections_app.standin.oauth import client_id_for, client_secret_for
from tests.integration.conftest import Refreshers
from tests.integration.oauth_helpers import start_refreshers
from tests.standin_fixtures import StandIn


def assert_refreshed_once(engine: Engine, standin: StandIn, ids: list[str]) -> dict:
    """Every connection active, refreshed exactly once, its grant intact; the ledger."""
    ledger = standin.control("GET", "/oauth/ledger").json()
    assert ledger["reuse_detected"] == 0
    assert ledger["invalid_grant_answers"] == 0
    assert ledger["refreshes"] == len(ids)
    assert sorted(set(ledger["refreshes_by_grant"].values())) == [1]
    with Session(engine) as db:
        rows = db.exec(select(Connection).where(Connection.id.in_(ids))).all()  # type: ignore[attr-defined]
    assert {r.status for r in rows} == {"active"}, [r.status_reason for r in rows]
    assert {r.token_version for r in rows} == {2}, "connected once, refreshed once"
    assert {r.refresh_failures for r in rows} == {0}
    assert all(r.refresh_lease_owner is None for r in rows)
    return ledger


def failure_events(engine: Engine, ids: list[str]) -> list[dict]:
    with Session(engine) as db:
        events = db.exec(
            select(AuditEvent).where(
                AuditEvent.connection_id.in_(ids),  # type: ignore[union-attr]
                AuditEvent.action == Action.REFRESH_FAILED,
            )
        ).all()
    return [e.detail for e in events]


def test_a_429_is_waited_out_for_its_retry_after_then_everything_refreshes(
    engine: Engine,
    standin: StandIn,
    due_connections: Callable[[int], list[str]],
    refreshers: Refreshers,
) -> None:
    ids = due_connections(5)
    standin.control(
        "PUT",
        "/oauth/slack/settings",
        {"fail_next": 2, "fail_status": 429, "retry_after": "1"},
    )
    # One call at a time to the provider: nothing is in flight when a 429 arrives, so
    # the next request the stand-in sees is the refresher's own choice of when.
    refreshers.run(1, ("--until-idle", "--interval", "0.05", "--per-provider", "1"))

    ledger = assert_refreshed_once(engine, standin, ids)
    assert ledger["rate_limited_answers"] == 2
    assert len(ledger["waits_after_429"]) == 2
    assert min(ledger["waits_after_429"]) >= 1.0, "asked again before Retry-After was up"
    details = failure_events(engine, ids)
    assert len(details) == 2
    assert all(d["permanent"] is False and d["retry_after"] == 1.0 for d in details)


def test_a_5xx_is_backed_off_and_retried_without_failing_the_connection(
    due_connections: Callable[[int], list[str]],
    standin: StandIn,
    refreshers: Refreshers,
    engine: Engine,
) -> None:
    ids = due_connections(5)
    standin.control("PUT", "/oauth/slack/settings", {"fail_next": 3, "fail_status": 502})
    # A 0.05 s back-off base: the first retry comes within 0.1 s, before the next pass.
    refreshers.run(
        1, ("--until-idle", "--interval", "0.3"), {"CONNECTIONS_REFRESH_BACKOFF_SECONDS": "0.05"}
    )

    ledger = assert_refreshed_once(engine, standin, ids)
    assert ledger["failed_answers"] == 3
    details = failure_events(engine, ids)
    assert len(details) == 3
    assert all(d["permanent"] is False and "HTTP 502" in d["reason"] for d in details)


@pytest.mark.parametrize(
    "bad",
    [
        {"fail_status": 404},
        {"fail_next": -1},
        {"token_latency": "slow"},
        {"retry_after": 5},
    ],
)
def test_the_stand_in_refuses_nonsense_failure_settings(standin: StandIn, bad: dict) -> None:
    import httpx

    answer = httpx.put(f"{standin.url}/_standin/oauth/slack/settings", json=bad, timeout=5)
    assert answer.status_code == 400


def test_ctrl_c_lets_calls_in_flight_finish_and_gives_back_unused_leases(
    engine: Engine,
    standin: StandIn,
    due_connections: Callable[[int], list[str]],
    db_url: str,
    master_key_bytes: bytes,
    tmp_path: Path,
) -> None:
    ids = due_connections(8)
    standin.control("PUT", "/oauth/slack/settings", {"token_latency": 0.5})
    connected = standin.control("GET", "/oauth/ledger").json()["token_requests"]
    # Four threads, one token request per second: at any moment some hold a lease
    # while they wait for their turn, and one is inside a slow provider call.
    (proc,) = start_refreshers(
        1,
        standin_url=standin.url,
        db_url=db_url,
        master_key=master_key_bytes,
        data_dir=tmp_path,
        args=("--concurrency", "4", "--rate", "1"),
    )
    deadline = time.monotonic() + 60
    while standin.control("GET", "/oauth/ledger").json()["token_requests"] < connected + 2:
        assert time.monotonic() < deadline, "the refresher never called the provider"
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err

    ledger = standin.control("GET", "/oauth/ledger").json()
    assert ledger["reuse_detected"] == 0
    with Session(engine) as db:
        rows = db.exec(select(Connection).where(Connection.id.in_(ids))).all()  # type: ignore[attr-defined]
    assert all(r.refresh_lease_owner is None for r in rows), "a lease was left behind"
    refreshed = [r for r in rows if r.token_version == 2]
    assert len(refreshed) == ledger["refreshes"], "every call that went out was written"
    assert 0 < len(refreshed) < len(ids), "stopped mid-pass"


def test_bulk_grants_are_grants_like_any_other(standin: StandIn) -> None:
    """The bench's seeding shortcut: each minted grant refreshes, rotates, and a spent
    refresh token kills it, as one a person consented to."""
    import httpx

    minted = standin.control("POST", "/oauth/slack/grants", {"count": 3, "prefix": "b"}).json()
    assert [t["account"] for t in minted["tokens"]] == ["b-0", "b-1", "b-2"]
    spent = minted["tokens"][0]["refresh_token"]
    auth = (client_id_for("slack"), client_secret_for("slack"))
    url = f"{standin.url}/oauth/slack/token"
    form = {"grant_type": "refresh_token", "refresh_token": spent}
    first = httpx.post(url, data=form, auth=auth, timeout=5)
    assert first.status_code == 200 and first.json()["refresh_token"] != spent
    again = httpx.post(url, data=form, auth=auth, timeout=5)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    ledger = standin.control("GET", "/oauth/ledger").json()
    assert ledger["bulk_grants"] == 3 and ledger["reuse_detected"] == 1
    for bad in ({"count": 0}, {"count": 3, "prefix": "no spaces"}):
        answer = httpx.post(f"{standin.url}/_standin/oauth/slack/grants", json=bad, timeout=5)
        assert answer.status_code == 400


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, "2", 2.0),
        (429, None, None),
        (503, "3", 3.0),
        (502, "3", "transient"),
        (503, None, "transient"),
    ],
)
def test_the_token_endpoint_asking_to_slow_down_is_told_apart(
    standin: StandIn, status: int, retry_after: str | None, expected: float | str | None
) -> None:
    """429 (with or without Retry-After) and a 503 that says when are `RateLimited`;
    any other 5xx is a plain transient failure."""
    from connections_app.core.oauth import provider

    standin.control(
        "PUT",
        "/oauth/slack/settings",
        {"fail_next": 1, "fail_status": status, "retry_after": retry_after},
    )
    settings = provider.ProviderSettings(name="Slack", token_url=f"{standin.url}/oauth/slack/token")
    with pytest.raises(provider.ProviderError) as caught:
        provider.refresh_tokens(
            settings,
            client_id=client_id_for("slack"),
            client_secret=client_secret_for("slack"),
            refresh="rt-unknown",
        )
    assert caught.value.permanent is False
    if expected == "transient":
        assert not isinstance(caught.value, provider.RateLimited)
    else:
        assert isinstance(caught.value, provider.RateLimited)
        assert caught.value.retry_after == expected


def test_a_429_without_retry_after_parks_the_connection_for_about_half_a_minute(
    engine: Engine, vault: Vault, standin: StandIn, due_connections: Callable[[int], list[str]]
) -> None:
    from connections_app.core.connections import tokens

    (conn_id,) = due_connections(1)
    standin.control("PUT", "/oauth/slack/settings", {"fail_next": 1, "fail_status": 429})
    before = utcnow()
    with Session(engine, expire_on_commit=False) as db:
        outcome = tokens.refresh(db, conn_id, vault=vault, owner="t")
    assert outcome.result == "rate_limited"
    assert outcome.retry_after is not None
    assert tokens.RATE_LIMITED_WAIT / 2 <= outcome.retry_after <= tokens.RATE_LIMITED_WAIT
    with Session(engine) as db:
        row = db.get(Connection, conn_id)
        assert row is not None
        assert row.status == "active" and row.refresh_failures == 0
        assert row.refresh_lease_owner is None
        assert row.next_refresh_at is not None
        assert row.next_refresh_at >= before + timedelta(seconds=tokens.RATE_LIMITED_WAIT / 2)
