"""Outage drills (issue 15), scaled down; the full-size run is documented in
docs/reliability.md ("Outages"):

- the database (a PostgreSQL cluster of this module's own, so stopping it disturbs no
  other test) stopped for OUTAGE_SECONDS (default 3; 30 in the full-size run) while runs
  are queued and the refresher passes: the screens' core calls, every HTTP route the
  guard wraps and `/readyz` answer "temporarily unavailable" (503), never a stack trace;
  the CLI refresher keeps running; after the restart everything recovers by itself and
  every run is executed exactly once (none lost, none duplicated at the provider);
- a provider (the stand-in) down for PROVIDER_DOWN_SECONDS (default 3; 300 full size):
  no connection is marked `error`, and every due refresh is done once it is back.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from connections_app.core import outage
from connections_app.core.clock import utcnow
from connections_app.core.connections import tokens
from connections_app.core.connections.models import Connection
from connections_app.core.identity import service as identity
from connections_app.core.vault import Vault
from connections_app.core.workflows import runs
from connections_app.core.workflows.models import Run, RunStep
from connections_app.http.auth_routes import routes as auth_routes
from connections_app.http.health_routes import routes as health_routes
from connections_app.http.oauth_routes import routes as oauth_routes
from connections_app.http.outage import outage_guard
from connections_app.standin.app import DEMO_CREDENTIALS
from connections_app.standin.overrides import catalog_env
from connections_app.ui.reflex_logging import backend_exception_handler
from connections_app.ui.states.connections_list import ConnectionListState
from connections_app.ui.states.core_call import call_as
from connections_app.ui.states.session import SessionState
from scripts import local_services
from tests.conftest import World
from tests.integration.helpers import make_stripe, workflow_with_node
from tests.integration.oauth_helpers import connect, register_clients, session_for
from tests.integration.test_ui_handlers import Cookie, _sign_in, _state
from tests.integration.test_ui_handlers import as_browser as as_browser
from tests.standin_fixtures import StandIn

OUTAGE_SECONDS = float(os.environ.get("OUTAGE_SECONDS", "3"))
PROVIDER_DOWN_SECONDS = float(os.environ.get("PROVIDER_DOWN_SECONDS", "3"))
RUNS = int(os.environ.get("OUTAGE_RUNS", "10"))
REDIS_DOWN_SECONDS = float(os.environ.get("REDIS_DOWN_SECONDS", "3"))
STRIPE_LIVE = DEMO_CREDENTIALS["stripe"]["secret_key"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local_services.Postgres]:
    workdir = local_services.cluster_dir(
        f"outage-{os.getpid()}-{os.urandom(3).hex()}", tmp_path_factory.mktemp("pg")
    )
    pg = local_services.postgres(workdir)
    if pg is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("PostgreSQL is not installed (CI requires it)")
        pytest.skip("PostgreSQL is not installed")
    pg.start()
    try:
        yield pg
    finally:
        pg.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def db_url(cluster: local_services.Postgres) -> str:
    """This module's database: its own cluster (the shared one is never stopped)."""
    return cluster.url


class Outage:
    """Stop the cluster now; `end()` starts it again and says for how long it was down."""

    def __init__(self, pg: local_services.Postgres) -> None:
        self.pg = pg
        self.started = time.monotonic()
        pg.stop("fast")

    def end(self, at_least: float) -> float:
        left = at_least - (time.monotonic() - self.started)
        if left > 0:
            time.sleep(left)
        self.pg.start()
        return time.monotonic() - self.started


def _routes_app() -> TestClient:
    """Our HTTP routes inside the outage guard, as the app mounts them."""
    inner = Starlette(routes=[*health_routes, *auth_routes, *oauth_routes])
    return TestClient(outage_guard(inner), raise_server_exceptions=True)


def _no_trace(text: str) -> None:
    assert "Traceback" not in text and "psycopg" not in text and "sqlalchemy" not in text


def _queue_runs(engine: Engine, world: World, count: int) -> list[str]:
    admin = world.actors["admin1"]
    with Session(engine, expire_on_commit=False) as db:
        conn = make_stripe(db, admin, key=STRIPE_LIVE)
        name = f"Outage {os.urandom(2).hex()}"
        wf, _node = workflow_with_node(db, admin, name, conn.id, {"email": "a@example.test"})
        ids = [runs.start(db, actor=admin, workflow_id=wf.id, mode="live") for _ in range(count)]
        db.commit()
    return ids


def _oauth_connections(engine: Engine, vault: Vault, world: World, count: int) -> list[str]:
    register_clients(engine, vault, ("slack",))
    token = session_for(engine, world.user_ids["admin2"])
    made = [
        connect(engine, vault, token, account=f"db-{os.urandom(3).hex()}") for _ in range(count)
    ]
    assert all(m.ok for m in made)
    return [str(m.connection_id) for m in made]


def _versions(engine: Engine, ids: list[str]) -> dict[str, int]:
    with Session(engine) as db:
        rows = db.exec(select(Connection).where(Connection.id.in_(ids))).all()  # type: ignore[attr-defined]
        return {r.id: r.token_version for r in rows}


def _make_due(engine: Engine, ids: list[str]) -> dict[str, int]:
    """Every connection falls due now (what the clock does); their versions before."""
    due = update(Connection).where(Connection.id.in_(ids))  # type: ignore[attr-defined]
    with Session(engine) as db:
        db.execute(due.values(next_refresh_at=utcnow() - timedelta(seconds=1)))
        db.commit()
    return _versions(engine, ids)


def _refresher(
    db_url: str, master_key_bytes: bytes, tmp: Path, standin: StandIn
) -> subprocess.Popen:
    """`connections-admin refresher` as operators run it, against this module's cluster."""
    key = base64.urlsafe_b64encode(master_key_bytes).decode()
    env = dict(os.environ, REFLEX_DB_URL=db_url, CONNECTIONS_MASTER_KEY=key)
    env.update(catalog_env(standin.url), CONNECTIONS_DATA_DIR=str(tmp))
    argv = [str(Path(sys.executable).parent / "connections-admin"), "refresher"]
    argv += ["--interval", "0.5", "--verbose"]
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_a_database_outage_answers_unavailable_and_recovers_by_itself(
    cluster: local_services.Postgres,
    db_url: str,
    engine: Engine,
    master_key_bytes: bytes,
    vault: Vault,
    standin: StandIn,
    world: World,
    as_browser: type[Cookie],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import asyncio

    caplog.set_level(logging.WARNING)
    monkeypatch.setattr(runs, "QUEUED_GRACE", timedelta(0))
    calls_before = standin.control("GET", "/calls").json().get("stripe:create_customer", 0)
    queued = _queue_runs(engine, world, RUNS)
    oauth = _oauth_connections(engine, vault, world, 3)
    token = _sign_in(engine, world.user_ids["admin1"])
    as_browser.value = token
    ref = identity.session_ref(token)
    client = _routes_app()
    assert client.get("/readyz").status_code in (200, 503)  # Redis may be absent here
    refresher = _refresher(db_url, master_key_bytes, tmp_path, standin)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(refresher.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    loop = asyncio.new_event_loop()
    try:
        started = time.monotonic()
        while not lines and time.monotonic() - started < 120:  # its first pass is done
            time.sleep(0.2)
        assert lines, "the refresher never made a pass"
        down = Outage(cluster)
        engine.dispose()  # this process's pooled connections die with the server
        # The screens' core calls: a clear answer, no exception.
        answer = call_as(ref, lambda db, actor: runs.history(db, actor=actor))
        assert answer.unavailable and answer.message == outage.MESSAGE
        # A page load through a real state: the handler does not raise.
        state = loop.run_until_complete(_state(ConnectionListState))
        session = loop.run_until_complete(state.get_state(SessionState))
        with pytest.raises(Exception) as raised:  # the session guard's own lookup
            loop.run_until_complete(session.load_session())
        assert outage.is_outage(raised.value)
        # What Reflex does with it: the backend exception handler's toast, one warning.
        toast = backend_exception_handler(raised.value)
        assert outage.MESSAGE in str(toast)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        # HTTP: liveness answers; readiness and the routes say "temporarily unavailable".
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        for path in ("/oauth/callback?state=x&code=y", "/oauth/start?app=slack"):
            answer_http = client.get(path, follow_redirects=False)
            assert answer_http.status_code in (503, 302, 303, 400, 401, 404), path
            _no_trace(answer_http.text)
        # Runs: the refresher's passes find the database gone and wait; nothing is lost.
        seconds = down.end(OUTAGE_SECONDS)
        # Recovery, by itself: the same engine, the same refresher process.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with Session(engine) as db:
                statuses = [db.get(Run, r).status for r in queued]  # type: ignore[union-attr]
            if all(s == "succeeded" for s in statuses):
                break
            # What every worker's refresher pass does (here without the 30 s grace).
            runs.resume_ready(lambda: Session(engine))
            time.sleep(0.5)
        assert statuses == ["succeeded"] * RUNS, statuses
        # Refreshes go on in the same refresher process: due now, refreshed soon.
        versions = _make_due(engine, oauth)
        deadline = time.monotonic() + 60
        while _versions(engine, oauth) != {c: v + 1 for c, v in versions.items()}:
            assert time.monotonic() < deadline, "the refresher stopped refreshing"
            time.sleep(0.5)
        assert client.get("/readyz").json()["checks"].get("database") is True
        again = call_as(ref, lambda db, actor: runs.history(db, actor=actor))
        assert again.ok and not again.unavailable
        loop.run_until_complete(session.load_session())
        assert session.workspace_id == world.ws1
    finally:
        loop.close()
        refresher.terminate()
        err = refresher.communicate(timeout=30)[1]
        reader.join(timeout=10)
    # The refresher lived through it (it was stopped by us, not by the outage).
    assert refresher.returncode == -15, err[-2000:]
    passes = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(p.get("database_unavailable") for p in passes), (lines[-20:], err[-3000:])
    _no_trace(err)
    # Each run executed exactly once: one provider call per run, one succeeded step each.
    calls = standin.control("GET", "/calls").json().get("stripe:create_customer", 0)
    assert calls - calls_before == RUNS
    with Session(engine) as db:
        steps = db.exec(select(RunStep).where(RunStep.run_id.in_(queued))).all()  # type: ignore[attr-defined]
    assert sorted(s.status for s in steps) == ["succeeded"] * RUNS
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "database unavailable" in logged
    print(f"\ndatabase outage: {seconds:.1f} s, {RUNS} runs queued, 0 lost, 0 duplicated")


def test_a_provider_down_marks_nothing_error_and_everything_refreshes_after(
    engine: Engine, vault: Vault, world: World, standin: StandIn
) -> None:
    register_clients(engine, vault, ("slack",))
    token = session_for(engine, world.user_ids["admin2"])
    ids = []
    for n in range(5):
        outcome = connect(engine, vault, token, account=f"down-{n}")
        assert outcome.ok, outcome.message
        ids.append(outcome.connection_id)

    def make_due() -> None:
        _make_due(engine, ids)

    def one_pass() -> dict[str, int]:
        return tokens.refresh_due(lambda: Session(engine), vault=vault, owner="drill", limit=500)

    def rows() -> list[Connection]:
        with Session(engine) as db:
            return list(db.exec(select(Connection).where(Connection.id.in_(ids))).all())  # type: ignore[attr-defined]

    before = {r.id: r.token_version for r in rows()}
    make_due()
    standin.control("PUT", "/oauth/slack/settings", {"token_mode": "error"})
    started = time.monotonic()
    passes = 0
    while time.monotonic() - started < PROVIDER_DOWN_SECONDS:
        one_pass()
        passes += 1
        assert {r.status for r in rows()} == {"active"}
        time.sleep(0.2)
    standin.control("PUT", "/oauth/slack/settings", {"token_mode": "ok"})
    # Back: every due refresh is done (the back-off is waited out, as the refresher would).
    make_due()
    counts = one_pass()
    assert counts.get("refreshed", 0) == len(ids), counts
    after = rows()
    assert {r.status for r in after} == {"active"}
    assert all(r.token_version == before[r.id] + 1 for r in after)
    assert all(r.refresh_failures == 0 for r in after)
    print(
        f"\nprovider down: {time.monotonic() - started:.1f} s, {passes} passes, "
        f"{len(ids)} connections, 0 marked error, {len(ids)} refreshed after"
    )


def test_a_redis_outage_ends_no_listener_and_live_updates_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers' alert listeners (the live-update path between workers) while Redis
    is stopped for REDIS_DOWN_SECONDS (default 3; 30 full size): publishing never
    raises (it falls back to this worker), no listener dies, and both hear the first
    alert after Redis is back, without a restart."""
    from connections_app.core import alerts
    from connections_app.core.settings import get_settings
    from connections_app.ui import background

    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("redis-server is missing (CI requires it)")
        pytest.skip("redis-server is not installed")
    port = local_services.free_port()
    heard: list[str] = []
    unsubscribe = alerts.subscribe(heard.append)
    stops = [threading.Event(), threading.Event()]
    monkeypatch.setattr(background, "REDIS_RETRY_SECONDS", 0.2)

    def until(count: int, message: str, seconds: float = 20) -> int:
        deadline = time.monotonic() + seconds
        while heard.count(message) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return heard.count(message)

    try:
        with local_services.redis_server(tmp_path, port=port) as url:
            monkeypatch.setenv("REFLEX_REDIS_URL", url)
            get_settings.cache_clear()
            listeners = [background._start_redis_listener(stop) for stop in stops]
            time.sleep(0.5)  # both subscribed
            alerts.publish("before")
            assert until(2, "before") == 2  # each worker's listener heard it
        started = time.monotonic()
        alerts.publish("during")  # Redis is down: delivered in this worker, no exception
        assert heard.count("during") == 1
        time.sleep(max(0.0, REDIS_DOWN_SECONDS - (time.monotonic() - started)))
        assert all(t is not None and t.is_alive() for t in listeners)
        with local_services.redis_server(tmp_path, port=port):
            down = time.monotonic() - started
            deadline = time.monotonic() + 20
            while heard.count("after") < 2 and time.monotonic() < deadline:
                alerts.publish("after")  # the first change after the outage…
                time.sleep(0.3)
            heard_after = heard.count("after")
    finally:
        for stop in stops:
            stop.set()
        unsubscribe()
    assert heard_after >= 2, "…reaches both workers once Redis is back"
    print(f"\nredis outage: {down:.1f} s, 2 listeners alive, live updates resumed")
