"""Run-time credential resolve against its floor: one primary-key select + one AES-GCM decrypt.

A workflow step that calls an API through a connection pays for the resolve on
every call: from the connection id to the ready authentication headers — the
scoped lookup of the connection with its sealed rows (one joined select through
the raw driver on the step's own connection, in its open transaction), USE, the
status, decrypt, and the header values (`runtime.resolve`). Building the
outgoing `httpx.Request` and putting the headers on it belongs to the call and
is timed apart. The floor is the least any design could do: one primary-key
select of a `connection_secrets` row and one AES-256-GCM decrypt of a
ciphertext of the same size. Goal: the resolve's median at most 5x the floor's.

For comparison it also times the path used before (ORM `get_connection` +
`ensure` + `runtime.authorize` on a request, in a fresh transaction).

    .venv/bin/python bench/credential_resolve.py [--count 1000] [--iterations 3000]
        [--db-url URL] [--profile]

Without --db-url it uses a throwaway SQLite file and the floor runs through
`sqlite3` on that same file. With a PostgreSQL URL the floor is a raw psycopg
select on the same server (the like-for-like floor, used for the goal), and the
SQLite floor is measured too, on a temporary SQLite copy of the secret rows.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_setup
import httpx
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import bindparam
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from connections_app.core.catalog import get_catalog
from connections_app.core.connections import runtime, service
from connections_app.core.connections.models import ConnectionSecret, Purpose, Status
from connections_app.core.db import READ_ONLY
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.tenancy import policy
from connections_app.core.tenancy.actor import Actor
from connections_app.core.tenancy.policy import Op
from connections_app.core.vault import Vault, secret_aad

GOAL_RATIO = 5.0
URL = "https://api.stripe.com/v1/customers"
SECRET = "sk_test_{n:024d}"
FLOOR_SQL = "SELECT nonce, ciphertext FROM connection_secrets WHERE id = {param}"
STAGES = (
    "lookup (one joined select, raw driver)",
    "USE + status",
    "open (decrypt + header values)",
)
OLD_STAGES = (
    "lookup (ORM get_connection)",
    "ensure(USE) + auth method",
    "httpx.Request",
    "authorize (select, decrypt, apply)",
)
BLOCK = 250


def seed(db: Session, vault: Vault, count: int) -> tuple[Actor, dict[str, str]]:
    """One account, workspace and admin, and `count` Stripe keys created through the service.

    Returns the actor and each connection's plaintext key, so that the resolve
    can be checked against what was stored rather than merely timed.
    """
    actor = bench_setup.workspace(db, vault, name="Runs", slug="runs").admin
    started = time.perf_counter()
    expected: dict[str, str] = {}
    for n in range(count):
        key = SECRET.format(n=n)
        view = service.create(
            db,
            actor=actor,
            app="stripe",
            kind="api_key",
            label=f"Stripe {n:05d}",
            fields={"secret_key": key},
            vault=vault,
        )
        expected[view.id] = key
    print(f"seeded {count} connections in {time.perf_counter() - started:.1f} s")
    return actor, expected


def begin_step(db: Session) -> None:
    """What a run step has open when it resolves: its own read-only transaction, begun
    by its first read (the node's current connection); psycopg sends BEGIN with that
    first statement, so one is run here (untimed) as the step's own would be."""
    db.connection(execution_options={READ_ONLY: True}).exec_driver_sql("SELECT 1")


def resolve(db: Session, vault: Vault, actor: Actor, connection_id: str) -> runtime.Credential:
    """The run step's resolve: connection id → ready credential (nothing sent)."""
    return runtime.resolve(
        db, actor=actor, connection_id=connection_id, purpose=Purpose.LIVE, vault=vault
    )


def build(credential: runtime.Credential) -> httpx.Request:
    """The call's part: the outgoing request, with the resolved headers put on it."""
    request = httpx.Request("POST", URL)
    credential.apply(request)
    return request


def old_resolve(db: Session, vault: Vault, actor: Actor, connection_id: str) -> httpx.Request:
    """The path before the fast resolve: ORM lookup, ensure, request, authorize."""
    conn = connection_scope.get_connection(db, actor, connection_id)
    policy.ensure(actor, Op.USE, conn)
    method = get_catalog().get(conn.app).auth_method(conn.kind)
    request = httpx.Request("POST", URL)
    runtime.authorize(
        db, vault=vault, conn=conn, method=method, purpose=Purpose.LIVE, request=request
    )
    return request


def check_every_resolve(db: Session, vault: Vault, actor: Actor, expected: dict[str, str]) -> None:
    """Resolve each connection once (also the warm-up) and fail loudly on a wrong header."""
    for connection_id, key in expected.items():
        begin_step(db)
        request = build(resolve(db, vault, actor, connection_id))
        db.rollback()
        if request.headers.get("Authorization") != f"Bearer {key}":
            raise SystemExit(f"resolve of {connection_id} did not set the expected bearer header")
        request = old_resolve(db, vault, actor, connection_id)
        db.rollback()
        if request.headers.get("Authorization") != f"Bearer {key}":
            raise SystemExit(f"old resolve of {connection_id} did not set the bearer header")
    print(f"checked: all {len(expected)} resolves set 'Authorization: Bearer sk_test_…'")


def time_resolve(db: Session, vault: Vault, actor: Actor, connection_id: str) -> list[int]:
    """One resolve inside an open step transaction, timed by stage, then the request
    built apart; the caller ends the transaction (untimed: the step ends it anyway,
    with a commit)."""
    begin_step(db)
    t0 = time.perf_counter_ns()
    found = runtime.lookup(db, actor, connection_id, Purpose.LIVE)
    t1 = time.perf_counter_ns()
    runtime.ensure_use(db, actor, found.conn)
    if found.conn.status != Status.ACTIVE:
        raise SystemExit("bench connection not active")
    t2 = time.perf_counter_ns()
    credential = runtime.open_credential(db, vault, found)
    t3 = time.perf_counter_ns()
    build(credential)
    t4 = time.perf_counter_ns()
    return [t3 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3]


def time_old_resolve(db: Session, vault: Vault, actor: Actor, connection_id: str) -> list[int]:
    """The previous path, timed by stage, each in a fresh transaction as it had."""
    t0 = time.perf_counter_ns()
    conn = connection_scope.get_connection(db, actor, connection_id)
    t1 = time.perf_counter_ns()
    policy.ensure(actor, Op.USE, conn)
    method = get_catalog().get(conn.app).auth_method(conn.kind)
    t2 = time.perf_counter_ns()
    request = httpx.Request("POST", URL)
    t3 = time.perf_counter_ns()
    runtime.authorize(
        db, vault=vault, conn=conn, method=method, purpose=Purpose.LIVE, request=request
    )
    t4 = time.perf_counter_ns()
    return [t4 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3]


class Sample:
    """A ciphertext of the stored secret's size, sealed with a random key and same-size AAD.

    The floor cannot use the vault's data key (only the vault sees it), and does
    not need to: AES-GCM's cost depends on the sizes, not on the key.
    """

    def __init__(self, tenant_id: str, connection_id: str, plaintext: str, key_version: int):
        self.aead = AESGCM(os.urandom(32))
        self.nonce = os.urandom(12)
        self.aad = secret_aad(tenant_id, connection_id, "live:secret_key", key_version)
        self.ciphertext = self.aead.encrypt(self.nonce, plaintext.encode(), self.aad)

    def decrypt(self) -> str:
        return self.aead.decrypt(self.nonce, self.ciphertext, self.aad).decode()


Fetch = Callable[[str], tuple[bytes, bytes] | None]


def sqlite_fetcher(path: str) -> tuple[Fetch, Callable[[], None]]:
    """Raw `sqlite3` in autocommit mode, as the app's engine opens its connections."""
    con = sqlite3.connect(path, isolation_level=None)
    sql = FLOOR_SQL.format(param="?")

    def fetch(secret_id: str) -> tuple[bytes, bytes] | None:
        return con.execute(sql, (secret_id,)).fetchone()

    return fetch, con.close


def postgres_fetcher(url: str) -> tuple[Fetch, Callable[[], None]]:
    """Raw psycopg in autocommit mode: one round trip per select, nothing else."""
    import psycopg

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    con = psycopg.connect(conninfo, autocommit=True)
    cur = con.cursor()
    sql = FLOOR_SQL.format(param="%s")

    def fetch(secret_id: str) -> tuple[bytes, bytes] | None:
        cur.execute(sql, (secret_id,))
        return cur.fetchone()

    return fetch, con.close


def sqlalchemy_fetcher(db: Session) -> Fetch:
    """The same select through SQLAlchemy Core, statement built once, in a fresh transaction.

    Not the goal's floor: it shows what the ORM stack costs before any domain code.
    """
    stmt = select(ConnectionSecret.nonce, ConnectionSecret.ciphertext).where(
        ConnectionSecret.id == bindparam("secret_id")
    )

    def fetch(secret_id: str) -> tuple[bytes, bytes] | None:
        row = db.connection().execute(stmt, {"secret_id": secret_id}).first()
        return None if row is None else (row[0], row[1])

    return fetch


def time_floor(fetch: Fetch, sample: Sample, secret_id: str) -> int:
    """One primary-key select of (nonce, ciphertext) and one AES-GCM decrypt."""
    t0 = time.perf_counter_ns()
    fetch(secret_id)
    sample.decrypt()
    return time.perf_counter_ns() - t0


def check_floor(fetch: Fetch, sample: Sample, secret_ids: Sequence[str]) -> None:
    """Warm a floor up and make sure it reads real rows of the sample's size."""
    for secret_id in secret_ids:
        row = fetch(secret_id)
        if row is None or len(row[1]) != len(sample.ciphertext):
            raise SystemExit(f"floor: secret row {secret_id} missing or not of the sample's size")
        sample.decrypt()


def copy_secrets_to_sqlite(db: Session, path: str) -> None:
    """The secret rows of a PostgreSQL run in a SQLite file, for the SQLite floor."""
    rows = db.exec(
        select(ConnectionSecret.id, ConnectionSecret.nonce, ConnectionSecret.ciphertext)
    ).all()
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE connection_secrets (id VARCHAR(32) PRIMARY KEY, nonce BLOB NOT NULL,"
        " ciphertext BLOB NOT NULL)"
    )
    con.executemany("INSERT INTO connection_secrets VALUES (?, ?, ?)", [tuple(r) for r in rows])
    con.commit()
    con.close()


def figures(samples_ns: Sequence[int]) -> tuple[float, float, float]:
    """(p50, p95, mean) in microseconds."""
    p50, p95 = bench_setup.percentiles(samples_ns)
    return p50 / 1000, p95 / 1000, statistics.fmean(samples_ns) / 1000


def show(name: str, samples_ns: Sequence[int], floor_p50: float) -> tuple[float, float, float]:
    p50, p95, mean = figures(samples_ns)
    print(
        f"  {name:<46} p50 {p50:8.1f} µs  p95 {p95:8.1f} µs  mean {mean:8.1f} µs"
        f"  p50 = {p50 / floor_p50:6.1f}x floor"
    )
    return p50, p95, mean


def profile(db: Session, vault: Vault, actor: Actor, ids: Sequence[str]) -> None:
    """Where a resolve's time goes, by function (own time), to find what to fix first."""
    profiler = cProfile.Profile()
    profiler.enable()
    for connection_id in ids:
        begin_step(db)
        resolve(db, vault, actor, connection_id)
        db.rollback()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    print(f"\ncProfile of {len(ids)} resolves, top 25 by own time:")
    print(out.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="connections to seed")
    parser.add_argument("--iterations", type=int, default=3000, help="timed ops per side")
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DB_URL", ""))
    parser.add_argument("--seed", type=int, default=1, help="random seed of the id sequence")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    sqlite_path = f"{tmp.name}/bench.db"
    url = args.db_url or f"sqlite:///{sqlite_path}"
    engine, vault = bench_setup.open_database(url)
    rng = random.Random(args.seed)
    closers: list[Callable[[], None]] = []
    with Session(engine, expire_on_commit=False) as db:
        actor, expected = seed(db, vault, args.count)
        secret_of = dict(db.exec(select(ConnectionSecret.connection_id, ConnectionSecret.id)).all())
        first = db.exec(select(ConnectionSecret)).first()
        assert first is not None
        sample = Sample(
            first.tenant_id, first.connection_id, expected[first.connection_id], first.key_version
        )
        ids = rng.choices(list(expected), k=args.iterations)
        secret_ids = [secret_of[i] for i in ids]

        # The goal's floor first; the others are printed for scale.
        floors: dict[str, Fetch] = {}
        if engine.dialect.name == "sqlite":
            fetch, close = sqlite_fetcher(sqlite_path)
            floors["floor: raw sqlite3, same file"] = fetch
        else:
            fetch, close = postgres_fetcher(url)
            floors["floor: raw psycopg, same server"] = fetch
            closers.append(close)
            copy_path = f"{tmp.name}/secrets-copy.db"
            copy_secrets_to_sqlite(db, copy_path)
            fetch, close = sqlite_fetcher(copy_path)
            floors["raw sqlite3, copy of the secret rows"] = fetch
        closers.append(close)
        floors["SQLAlchemy Core select, fresh transaction"] = sqlalchemy_fetcher(db)
        db.rollback()

        print(f"database: {engine.dialect.name}; {args.iterations} timed ops per side")
        check_every_resolve(db, vault, actor, expected)
        for fetch in floors.values():
            check_floor(fetch, sample, secret_ids[:500])
            db.rollback()

        # Interleave blocks of each side so that drifting load on a shared machine
        # hits resolve and floor alike and the ratio stays meaningful.
        resolves: list[list[int]] = []
        olds: list[list[int]] = []
        floored: dict[str, list[int]] = {label: [] for label in floors}
        for start in range(0, len(ids), BLOCK):
            block = range(start, min(start + BLOCK, len(ids)))
            gc.collect()
            for i in block:
                resolves.append(time_resolve(db, vault, actor, ids[i]))
                # The step ends its read with a commit (a ROLLBACK would also make psycopg
                # drop its prepared statements).
                db.commit()
            gc.collect()
            for i in block:
                olds.append(time_old_resolve(db, vault, actor, ids[i]))
                db.rollback()
            for label, fetch in floors.items():
                gc.collect()
                for i in block:
                    floored[label].append(time_floor(fetch, sample, secret_ids[i]))
                    db.rollback()  # ends the SQLAlchemy floor's transaction; untimed

        goal_label = next(iter(floors))
        floor_p50 = figures(floored[goal_label])[0]
        print(
            "resolve = runtime.resolve inside the step's open transaction: lookup with the"
            " sealed rows + USE + status + decrypt + header values:"
        )
        resolved = show("resolve", [r[0] for r in resolves], floor_p50)
        for n, name in enumerate(STAGES, start=1):
            show(f"  of which {name}", [r[n] for r in resolves], floor_p50)
        show("not counted (the call's): httpx.Request + apply", [r[4] for r in resolves], floor_p50)
        print("before: get_connection + ensure + httpx.Request + authorize, fresh transaction:")
        show("previous path", [r[0] for r in olds], floor_p50)
        for n, name in enumerate(OLD_STAGES, start=1):
            show(f"  of which {name}", [r[n] for r in olds], floor_p50)
        print("one primary-key select of (nonce, ciphertext) + one AES-GCM decrypt:")
        for label in floors:
            show(label, floored[label], floor_p50)
        if args.profile:
            profile(db, vault, actor, ids[:1000])
    for close in closers:
        close()
    engine.dispose()
    print(f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    ratio = resolved[0] / floor_p50
    verdict = "goal met" if ratio <= GOAL_RATIO else "goal NOT met"
    print(
        f"resolve p50 is {ratio:.1f}x the floor ({goal_label.removeprefix('floor: ')}); "
        f"goal <= {GOAL_RATIO:.0f}x: {verdict} (ratio / goal = {ratio / GOAL_RATIO:.2f}); "
        f"about {1e6 / resolved[0]:,.0f} resolves/s on one core"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
