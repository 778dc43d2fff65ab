"""Run throughput: 1,000 runs of a three-step workflow on two workers against the stand-in.

Seeds one workspace with three Stripe keys (the stand-in's demo key) and a
workflow of three `create_customer` nodes, one per key, and queues 1,000 runs
through `workflows.runs.start`. Two worker processes then execute them with
the real executor (`runs.execute`: claim, resolve, call, record the use, write
the step) concurrently, each walking the queue from its own end; the claim
makes sure each run executes once. The stand-in app API runs in a third
process on loopback.

Printed: steps per second over both workers, and what a step adds beyond its
provider call — the step's time in the database (`started_at` → `finished_at`,
which covers its `running` write, the resolve, the call, the use record and
the spend record) minus the provider call timed around the send inside the
worker (the transport's `handle_request`: connect, request, the stand-in's
answer). Also printed: each run's whole `execute()` (claim to close, timed in
its worker) minus its provider calls, per step — a figure no placement of the
step timestamps can move. Goal: **≤ 2 ms p95 overhead per step**; the ratio is
printed, no timing is asserted.

    .venv/bin/python bench/runs.py [--runs 1000] [--workers 2] [--db-url URL]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_setup
import httpx
from sqlmodel import Session, select

from connections_app.standin.app import DEMO_CREDENTIALS
from connections_app.standin.overrides import catalog_env

GOAL_MS = 2.0
STEPS = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_standin() -> tuple[subprocess.Popen[bytes], str]:
    """The stand-in app API in its own process, so its work is not the workers'."""
    port = free_port()
    code = (
        "import uvicorn\n"
        "from connections_app.standin.app import create_app\n"
        f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning',"
        " lifespan='off', access_log=False)\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{url}/_standin/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit("the stand-in did not start")
        time.sleep(0.1)


def seed(url: str, runs: int) -> tuple[bytes, list[str]]:
    """Workspace, three Stripe keys, a three-node workflow and `runs` queued runs."""
    from connections_app.core import migrations
    from connections_app.core.connections import service
    from connections_app.core.db import build_engine
    from connections_app.core.vault import LocalMasterKey, Vault, set_vault
    from connections_app.core.workflows import runs as run_service
    from connections_app.core.workflows import service as workflows

    key = os.urandom(32)
    migrations.upgrade(url)
    engine = build_engine(url)
    vault = Vault(LocalMasterKey(key))
    with Session(engine, expire_on_commit=False) as db:
        if vault.verify(db):
            vault.install_check(db)
            db.commit()
    set_vault(vault)
    with Session(engine, expire_on_commit=False) as db:
        actor = bench_setup.workspace(db, vault, name="Runs", slug="runs").admin
        wf = workflows.create_workflow(db, actor=actor, name="Three customers")
        stripe = {"app": "stripe", "kind": "api_key", "fields": DEMO_CREDENTIALS["stripe"]}
        for n in range(STEPS):
            conn = service.create(db, actor=actor, label=f"Stripe {n}", vault=vault, **stripe)
            node = workflows.add_node(
                db,
                actor=actor,
                workflow_id=wf.id,
                app="stripe",
                action="create_customer",
                params={"email": f"step{n}@bench.test"},
            )
            workflows.set_node_connection(db, actor=actor, node_id=node.id, connection_id=conn.id)
        db.commit()
        started = time.perf_counter()
        ids = [run_service.start(db, actor=actor, workflow_id=wf.id) for _ in range(runs)]
        print(f"queued {runs} runs in {time.perf_counter() - started:.1f} s")
    engine.dispose()
    return key, ids


def worker(
    index: int, url: str, key: bytes, ids: list[str], go: Any, out: Any
) -> None:  # pragma: no cover - runs in a child process
    """Execute runs with the real executor; report each run's provider call times."""
    from connections_app.core import egress
    from connections_app.core.db import build_engine
    from connections_app.core.vault import LocalMasterKey, Vault, set_vault
    from connections_app.core.workflows import runs as run_service

    engine = build_engine(url)
    vault = Vault(LocalMasterKey(key))
    set_vault(vault)
    calls: list[int] = []
    original = egress.GuardedTransport.handle_request

    def timed(self: egress.GuardedTransport, request: httpx.Request) -> httpx.Response:
        t0 = time.perf_counter_ns()
        try:
            return original(self, request)
        finally:
            calls.append(time.perf_counter_ns() - t0)

    egress.GuardedTransport.handle_request = timed  # type: ignore[method-assign]
    order = ids if index % 2 == 0 else list(reversed(ids))
    provider: dict[str, list[int]] = {}
    whole: dict[str, int] = {}  # run id → its execute() from claim to close, in ns
    executed = 0
    with egress.client(timeout=run_service.STEP_TIMEOUT) as http:
        out.put(("ready", index))
        go.wait()
        started = time.perf_counter()
        for run_id in order:
            mark = len(calls)
            t0 = time.perf_counter_ns()
            with Session(engine, expire_on_commit=False) as db:
                status = run_service.execute(db, run_id, client=http, vault=vault)
            if status is not None:
                whole[run_id] = time.perf_counter_ns() - t0
                executed += 1
                provider[run_id] = calls[mark:]
        elapsed = time.perf_counter() - started
    engine.dispose()
    out.put((index, executed, elapsed, provider, whole))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DB_URL", ""))
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.db_url or f"sqlite:///{tmp.name}/bench.db"
    standin, base = start_standin()
    try:
        os.environ.update(catalog_env(base))  # the catalog and egress policy point at it
        key, ids = seed(url, args.runs)
        ctx = mp.get_context("spawn")
        go, out = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=worker, args=(n, url, key, ids, go, out))
            for n in range(args.workers)
        ]
        for proc in procs:
            proc.start()
        for _ in procs:  # each has imported and opened its engine before the clock starts
            out.get(timeout=300)
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        go.set()
        results = [out.get(timeout=3600) for _ in procs]
        wall = time.perf_counter() - t0
        for proc in procs:
            proc.join()
    finally:
        standin.terminate()
        standin.wait(timeout=10)
    print(
        f"load average (1 min) at the start {load:.1f}, at the end {os.getloadavg()[0]:.1f}"
        f" on {os.cpu_count()} CPUs: figures taken on a busy machine are slower"
    )
    return report(url, ids, results, wall, args.workers)


def report(url: str, ids: list[str], results: list[Any], wall: float, workers: int) -> int:
    from connections_app.core.db import build_engine
    from connections_app.core.workflows.models import Run, RunStep

    provider: dict[str, list[int]] = {}
    whole: dict[str, int] = {}
    for index, executed, elapsed, times, runs_ns in sorted(results):
        print(f"worker {index}: executed {executed} runs in {elapsed:.1f} s")
        provider.update(times)
        whole.update(runs_ns)
    engine = build_engine(url)
    with Session(engine) as db:
        statuses = db.exec(select(Run.status)).all()
        steps = db.exec(
            select(RunStep.run_id, RunStep.position, RunStep.started_at, RunStep.finished_at)
        ).all()
    engine.dispose()
    done = sum(1 for s in statuses if s == "succeeded")
    if done != len(ids):
        raise SystemExit(f"only {done} of {len(ids)} runs succeeded: {set(statuses)}")
    overhead: list[float] = []
    step_ms: list[float] = []
    call_ms: list[float] = []
    for run_id, position, started, finished in steps:
        calls = provider.get(run_id, [])
        if len(calls) != STEPS or started is None or finished is None:
            raise SystemExit(f"run {run_id}: {len(calls)} provider calls for {STEPS} steps")
        spent = (finished - started).total_seconds() * 1000
        call = calls[position - 1] / 1e6
        step_ms.append(spent)
        call_ms.append(call)
        overhead.append(spent - call)
    total = len(steps)
    p50, p95 = bench_setup.percentiles(overhead)
    print(
        f"{len(ids)} runs x {STEPS} steps on {workers} workers ({engine.dialect.name}): "
        f"{total / wall:,.0f} steps/s ({len(ids) / wall:,.0f} runs/s) over {wall:.1f} s"
    )
    print(
        f"  step time          p50 {statistics.median(step_ms):6.2f} ms"
        f"  p95 {bench_setup.percentiles(step_ms)[1]:6.2f} ms"
    )
    print(
        f"  provider call      p50 {statistics.median(call_ms):6.2f} ms"
        f"  p95 {bench_setup.percentiles(call_ms)[1]:6.2f} ms"
    )
    print(f"  overhead per step  p50 {p50:6.2f} ms  p95 {p95:6.2f} ms")
    # The whole run as its worker saw it (claim, every step, every write, the close)
    # minus its provider calls, per step: no timestamp placement can hide a cost here.
    per_step = [(whole[r] - sum(provider[r])) / 1e6 / STEPS for r in ids if r in whole]
    w50, w95 = bench_setup.percentiles(per_step)
    print(f"  whole run - calls  p50 {w50:6.2f} ms  p95 {w95:6.2f} ms  per step (claim to close)")
    verdict = "goal met" if p95 <= GOAL_MS else "goal NOT met"
    print(
        f"step overhead p95 {p95:.2f} ms; goal <= {GOAL_MS:.0f} ms: {verdict} "
        f"(ratio {p95 / GOAL_MS:.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
