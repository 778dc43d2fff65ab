"""Refresher throughput: N OAuth connections due at once, 1, 2 and 4 refresher processes.

Every connection holds a real grant at the stand-in provider (minted in bulk there,
sealed here through the real vault: the same rows a connect leaves), its token
expiring inside the refresh lead window. The stand-in's token endpoint adds 50 ms
to every request and rotates refresh tokens with reuse detection: presenting a spent
refresh token kills the grant, so a refresh done twice would show as `reuse`. For
each process count, real `connections-admin refresher --until-idle` processes run
until nothing is due; the script prints refreshes per second (wall time, process
start included), the token grants the provider counted per connection (must be
exactly 1) and the `invalid_grant` / reuse answers (must be 0).

Goal (issue 14): 10,000 refreshed within 60 s with 2 processes (≥ 170/s).

    .venv/bin/python bench/refresher.py --db-url postgresql://… [--count 10000]
        [--processes 1,2,4] [--latency 0.05] [--concurrency N] [--per-provider N]

The goal is stated for PostgreSQL. Without --db-url the script runs on a throwaway
SQLite file with 1,000 connections and one process, as a reference figure only
(SQLite has one writer at a time).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_setup
import httpx
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.catalog import reset_catalog_cache
from connections_app.core.clock import utcnow
from connections_app.core.connections import secret_rows
from connections_app.core.connections import service as connections
from connections_app.core.connections.models import (
    Connection,
    ConnectionSecret,
    Kind,
    Purpose,
    Scope,
    Sharing,
    Status,
)
from connections_app.core.identity import service as identity
from connections_app.core.oauth import clients
from connections_app.core.oauth.provider import ACCESS, REFRESH
from connections_app.core.settings import get_settings
from connections_app.core.vault import Vault, masked_tail
from connections_app.standin.oauth import client_id_for, client_secret_for
from connections_app.standin.overrides import catalog_env

APP = "slack"
GOAL_COUNT, GOAL_SECONDS, GOAL_RATE, GOAL_PROCESSES = 10_000, 60.0, 170.0, 2
BATCH = 1000
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StandIn:
    """The stand-in provider in its own process (as a real provider would be)."""

    def __init__(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [str(BIN / "python"), "-m", "connections_app.standin", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.control("GET", "/oauth/ledger")
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit("refresher bench: the stand-in did not start") from None
                time.sleep(0.1)

    def control(self, method: str, path: str, json: object = None) -> Any:
        answer = httpx.request(method, f"{self.url}/_standin{path}", json=json, timeout=300)
        answer.raise_for_status()
        return answer.json()

    def cpu_seconds(self) -> float:
        """CPU time the stand-in has used so far (Linux /proc; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _cpu_of(pid: str, *, children: bool = False) -> float:
    """CPU seconds of a process (Linux /proc), with its waited-for children's if asked."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_cpu(url: str) -> float | None:
    """CPU seconds PostgreSQL has used so far on this machine: its postmaster (found by
    the port in `url`, as `scripts/with-postgres.sh` starts it) with its ended backends,
    plus its live ones. None when it cannot be found (another host, not Linux)."""
    port = url.rsplit(":", 1)[-1].split("/", 1)[0]
    procs = [p for p in Path("/proc").iterdir() if p.name.isdigit()]
    master = None
    for proc in procs:
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"postgres") and b"-p" in argv and port.encode() in argv:
            master = proc.name
            break
    if master is None:
        return None
    total = _cpu_of(master, children=True)
    for proc in procs:
        try:
            ppid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if ppid == master:
            total += _cpu_of(proc.name)
    return total


def seed(
    engine: Engine, vault: Vault, standin: StandIn, count: int, label: str, accounts: int
) -> list[str]:
    """`count` connections in fresh workspaces (one per account, dealt round-robin), each
    sealing its own stand-in grant, all due now: their tokens expire within the lead
    window."""
    grants = standin.control("POST", f"/oauth/{APP}/grants", {"count": count, "prefix": label})
    tokens: list[dict[str, Any]] = grants["tokens"]
    with Session(engine, expire_on_commit=False) as db:
        admins = [
            bench_setup.workspace(db, vault, name=f"Refresh {label}", slug=f"{label}-{n}").admin
            for n in range(accounts)
        ]
        db.commit()
    lead = get_settings().refresh_lead_seconds
    now = utcnow()
    ids: list[str] = []
    for start in range(0, count, BATCH):
        # No autoflush: the vault's key lookups would otherwise insert row by row.
        with Session(engine, expire_on_commit=False) as db, db.no_autoflush:
            for n, token in enumerate(tokens[start : start + BATCH], start):
                admin = admins[n % accounts]
                account = token["account"]
                name = f"Slack ({account})"
                expires = now + timedelta(seconds=random.uniform(0.2 * lead, 0.9 * lead))
                conn = Connection(
                    account_id=admin.account_id,
                    workspace_id=admin.workspace_id,
                    tenant_id=admin.workspace_id,
                    scope=Scope.WORKSPACE,
                    app=APP,
                    label=name,
                    label_key=connections.label_key(name),
                    stable_key=f"slack-{account}",
                    kind=Kind.OAUTH2,
                    status=Status.ACTIVE,
                    sharing=Sharing.USE,
                    config={},
                    external_identity=f"U-{account}",
                    external_name=account,
                    created_by=admin.user_id,
                    authorized_by=admin.user_id,
                    masked_tail=masked_tail(token[ACCESS]),
                    secret_version=1,
                    token_version=1,
                    token_expires_at=expires,
                    next_refresh_at=expires - timedelta(seconds=lead),
                )
                db.add(conn)
                bound_to = secret_rows.current_destination(conn)
                for field in (ACCESS, REFRESH):
                    sealed = vault.encrypt(
                        db,
                        place=secret_rows.place_of(conn, Purpose.LIVE, field),
                        plaintext=token[field],
                    )
                    db.add(
                        ConnectionSecret(
                            connection_id=conn.id,
                            tenant_id=conn.tenant_id,
                            purpose=Purpose.LIVE,
                            field=field,
                            key_version=sealed.key_version,
                            nonce=sealed.nonce,
                            ciphertext=sealed.ciphertext,
                            destination=bound_to,
                        )
                    )
                ids.append(conn.id)
            db.commit()
    tokens.clear()
    return ids


def run_refreshers(
    processes: int, env: dict[str, str], extra: list[str]
) -> tuple[float, Counter[str]]:
    """Wall seconds for `processes` refreshers to drain everything due (start included),
    and the outcomes they reported, summed over their passes."""
    started = time.perf_counter()
    command = [str(BIN / "connections-admin"), "refresher", "--until-idle", "--interval", "0.2"]
    procs = [
        subprocess.Popen(
            [*command, *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    outcomes: Counter[str] = Counter()
    for proc in procs:
        out, err = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(f"refresher bench: a refresher failed:\n{err[-2000:]}")
        for line in out.splitlines():
            counts = json.loads(line)
            counts.pop("pass", None)
            outcomes.update(counts)
    return time.perf_counter() - started, outcomes


def check(engine: Engine, ids: list[str]) -> tuple[int, int, int]:
    """(refreshed rows, rows not active, rows refreshed more than once) in the database."""
    with Session(engine) as db:
        rows = db.exec(
            select(Connection.status, Connection.token_version, func.count())
            .where(Connection.id.in_(ids))  # type: ignore[attr-defined]
            .group_by(Connection.status, Connection.token_version)
        ).all()
    refreshed = sum(n for status, version, n in rows if version == 2)
    not_active = sum(n for status, version, n in rows if status != Status.ACTIVE)
    twice = sum(n for status, version, n in rows if version > 2)
    return refreshed, not_active, twice


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=None, help="connections (10,000)")
    parser.add_argument("--processes", default=None, help="refresher process counts (1,2,4)")
    parser.add_argument("--latency", type=float, default=0.05, help="token endpoint delay, s")
    parser.add_argument("--concurrency", type=int, help="per process (default: the setting)")
    parser.add_argument("--per-provider", type=int, help="per process and provider")
    parser.add_argument(
        "--accounts", type=int, default=1, help="spread the connections over this many accounts"
    )
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DB_URL", ""))
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    postgres = args.db_url.startswith("postgresql")
    url = args.db_url or f"sqlite:///{tmp.name}/bench.db"
    count = args.count or (GOAL_COUNT if postgres else 1000)
    counts = [int(n) for n in (args.processes or ("1,2,4" if postgres else "1")).split(",")]
    extra: list[str] = []
    if args.concurrency:
        extra += ["--concurrency", str(args.concurrency)]
    if args.per_provider:
        extra += ["--per-provider", str(args.per_provider)]

    standin = StandIn()
    key = os.urandom(32)
    env = {
        **os.environ,
        **catalog_env(standin.url),
        "REFLEX_DB_URL": url,
        "CONNECTIONS_MASTER_KEY": base64.urlsafe_b64encode(key).decode(),
        "CONNECTIONS_DATA_DIR": tmp.name,
        "CONNECTIONS_LOG_LEVEL": "WARNING",
    }
    os.environ.update(catalog_env(standin.url))  # the destinations the rows are sealed for
    reset_catalog_cache()
    get_settings.cache_clear()
    settings = get_settings()
    try:
        engine, vault = bench_setup.open_database(url, master_key=key)
        with Session(engine) as db:
            identity.ensure_data_keys(db, vault=vault)
            clients.set_client(
                db,
                vault=vault,
                app=APP,
                client_id=client_id_for(APP),
                client_secret=client_secret_for(APP),
            )
            db.commit()
        database = "PostgreSQL" if postgres else "SQLite"
        print(
            f"refresher: {count:,} OAuth connections due at once in {args.accounts} "
            f"account(s), {database}, "
            f"token endpoint +{args.latency * 1000:.0f} ms, rotating refresh tokens with reuse "
            f"detection; per process: {args.concurrency or settings.refresh_concurrency} at once, "
            f"{args.per_provider or settings.refresh_per_provider} per provider, rate "
            f"{settings.refresh_rate.describe()}"
        )
        if not postgres:
            print("  (SQLite: a reference figure; the goal is for PostgreSQL, see --db-url)")
        for processes in counts:
            standin.control("POST", "/reset")
            standin.control("PUT", f"/oauth/{APP}/settings", {"token_latency": args.latency})
            t0 = time.perf_counter()
            label = f"p{processes}-{os.urandom(3).hex()}"
            ids = seed(engine, vault, standin, count, label, args.accounts)
            seeded = time.perf_counter() - t0
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            standin_cpu = standin.cpu_seconds()
            pg_cpu = postgres_cpu(url) if postgres else None
            seconds, outcomes = run_refreshers(processes, env, extra)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            refresher_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            standin_cpu = standin.cpu_seconds() - standin_cpu
            if pg_cpu is not None:
                pg_cpu = (postgres_cpu(url) or 0.0) - pg_cpu
            ledger = standin.control("GET", "/oauth/ledger")
            refreshed, not_active, twice = check(engine, ids)
            per_grant = list(ledger["refreshes_by_grant"].values())
            bad = ledger["invalid_grant_answers"] + ledger["reuse_detected"]
            rate = refreshed / seconds
            exact = len(per_grant) == count and set(per_grant) == {1} and refreshed == count
            line = (
                f"  {processes} process{'es' if processes > 1 else ''}: {refreshed:,}/{count:,} "
                f"refreshed in {seconds:.1f} s = {rate:.0f}/s (ratio to {GOAL_RATE:.0f}/s: "
                f"{rate / GOAL_RATE:.2f}); grants per connection "
                f"{min(per_grant, default=0)}–{max(per_grant, default=0)} "
                f"({'exactly 1' if exact else 'NOT exactly 1'}); invalid_grant/reuse {bad}; "
                f"not active {not_active}, refreshed twice {twice}; seeded in {seeded:.1f} s; "
                f"outcomes {dict(sorted(outcomes.items()))}"
            )
            print(line, flush=True)
            per = 1000 / max(refreshed, 1)  # ms of CPU per refresh, from CPU seconds
            cores = os.cpu_count() or 1
            total = refresher_cpu + standin_cpu + (pg_cpu or 0.0)
            ceiling = cores * 1000 / max(total * per, 0.001)
            database_cpu = (
                f", PostgreSQL {pg_cpu * per:.1f} ms"
                if pg_cpu is not None
                else " (PostgreSQL not counted)"
            )
            print(
                f"    CPU per refresh: refreshers {refresher_cpu * per:.1f} ms, stand-in "
                f"{standin_cpu * per:.1f} ms{database_cpu}, together {total * per:.1f} ms "
                f"(process start-up included): {cores} cores could do at most "
                f"{ceiling:.0f}/s of that",
                flush=True,
            )
            if processes == GOAL_PROCESSES and postgres:
                projected = GOAL_COUNT / rate
                met = rate >= GOAL_RATE and exact and bad == 0
                print(
                    f"  goal: {GOAL_COUNT:,} within {GOAL_SECONDS:.0f} s with {GOAL_PROCESSES} "
                    f"processes (≥ {GOAL_RATE:.0f}/s): {projected:.0f} s for {GOAL_COUNT:,} at "
                    f"this rate, ratio {rate / GOAL_RATE:.2f} — {'met' if met else 'NOT met'}"
                )
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
