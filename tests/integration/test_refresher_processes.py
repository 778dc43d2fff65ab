"""Invariant 6 under real concurrency: two refresher processes against PostgreSQL,
200 OAuth connections due at once, a provider with rotating refresh tokens and
reuse detection. Every connection must be refreshed exactly once and the provider
must never have seen a spent refresh token (which would have killed the grant)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.clock import utcnow
from connections_app.core.connections.models import Connection
from tests.integration.conftest import Refreshers
from tests.integration.test_refresher_pacing import assert_refreshed_once
from tests.standin_fixtures import StandIn

COUNT = 200


def test_two_refresher_processes_refresh_each_connection_exactly_once(
    engine: Engine,
    standin: StandIn,
    db_url: str,
    due_connections: Callable[[int], list[str]],
    refreshers: Refreshers,
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the multi-process claim is checked on PostgreSQL")
    ids = due_connections(COUNT)
    before = standin.control("GET", "/oauth/ledger").json()

    outputs = refreshers.run(2, ("--until-idle", "--interval", "0.05"))

    ledger = standin.control("GET", "/oauth/ledger").json()
    assert ledger["reuse_detected"] == before["reuse_detected"] == 0
    assert ledger["invalid_grant_answers"] == 0
    assert ledger["refreshes"] - before["refreshes"] == COUNT
    assert sorted(set(ledger["refreshes_by_grant"].values())) == [1]
    with Session(engine) as db:
        rows = db.exec(select(Connection).where(Connection.id.in_(ids))).all()  # type: ignore[attr-defined]
    assert {r.status for r in rows} == {"active"}
    assert {r.token_version for r in rows} == {2}, "connected once, refreshed once"
    assert all(r.next_refresh_at and r.next_refresh_at > utcnow() for r in rows)
    assert all(r.refresh_lease_owner is None for r in rows)
    both_worked = [out for out in outputs if '"refreshed"' in out]
    assert len(both_worked) >= 1


@pytest.mark.parametrize(
    ("failures", "env"),
    [
        ({"fail_next": 8, "fail_status": 429, "retry_after": "1"}, {}),
        ({"fail_next": 8, "fail_status": 503}, {"CONNECTIONS_REFRESH_BACKOFF_SECONDS": "0.05"}),
    ],
    ids=["429", "503"],
)
def test_two_processes_through_429s_and_5xx_still_refresh_each_connection_once(
    engine: Engine,
    standin: StandIn,
    db_url: str,
    due_connections: Callable[[int], list[str]],
    refreshers: Refreshers,
    failures: dict,
    env: dict[str, str],
) -> None:
    """The provider pushes back while two processes share the work: a connection put
    back for later (Retry-After, back-off) is picked up by whichever process comes
    next, and still refreshed exactly once, with no spent token presented."""
    if not db_url.startswith("postgresql"):
        pytest.skip("the multi-process claim is checked on PostgreSQL")
    ids = due_connections(40)
    standin.control("PUT", "/oauth/slack/settings", {"token_latency": 0.02, **failures})
    refreshers.run(2, ("--until-idle", "--interval", "0.3", "--concurrency", "4"), env)

    ledger = assert_refreshed_once(engine, standin, ids)
    assert ledger["rate_limited_answers"] + ledger["failed_answers"] == 8
