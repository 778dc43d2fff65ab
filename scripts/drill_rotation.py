"""Drill: kill -9 during key rotation, many times, and prove no credential is lost.

Seeds N credentials (Stripe keys through the connection service, spread over many
workspaces so there are many data keys), then:

1. runs `connections-admin keys rotate-master` as a real subprocess and SIGKILLs it
   K times at random points (after a random batch, plus a random few milliseconds, so
   some kills land inside a batch's transaction), resuming each time, and finishes;
   then `keys retire-master`;
2. the same for `connections-admin keys rotate-data-key --all`;
3. throughout, a resolve loop (a thread of this process, the run-time path: tenancy
   lookup, policy, `runtime.authorize`, with a cold vault every few resolves so data
   keys are unwrapped through the key ring again) checks each header it builds;
4. at the end every credential is resolved with a fresh vault and compared.

Prints: kills survived, credentials checked, unreadable, resolve failures. Exit 1 if
any credential is unreadable or any resolve failed.

    .venv/bin/python scripts/drill_rotation.py                      # full: 10,000 and 50 kills
    .venv/bin/python scripts/drill_rotation.py --credentials 300 --kills 5
    scripts/with-postgres.sh bash -c '.venv/bin/python scripts/drill_rotation.py \\
        --db-url "$TEST_DB_URL"'                                   # on PostgreSQL

`make test` runs the scaled-down form (tests/integration/test_rotation_drill.py).
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from connections_app.core import migrations  # noqa: E402
from connections_app.core.catalog import get_catalog  # noqa: E402
from connections_app.core.connections import runtime, service  # noqa: E402
from connections_app.core.connections.models import Purpose  # noqa: E402
from connections_app.core.db import build_engine  # noqa: E402
from connections_app.core.identity import service as identity  # noqa: E402
from connections_app.core.settings import get_settings  # noqa: E402
from connections_app.core.tenancy import connections as connection_scope  # noqa: E402
from connections_app.core.tenancy import policy, sealed_rows  # noqa: E402
from connections_app.core.tenancy.actor import Actor, Role  # noqa: E402
from connections_app.core.tenancy.policy import Op  # noqa: E402
from connections_app.core.vault import (  # noqa: E402
    DataKey,
    LocalMasterKey,
    Vault,
    open_vault,
    parse_master_key,
)

PER_WORKSPACE = 5
DRILL_PASSWORD = "drill-password-1"  # noqa: S105 (a throwaway drill user)
ADMIN = str(Path(sys.executable).parent / "connections-admin")


@dataclass
class Seeded:
    actors: dict[str, Actor]  # workspace id → its admin
    expected: dict[str, tuple[str, str]]  # connection id → (workspace id, key)


@dataclass
class Figures:
    credentials: int = 0
    kills: dict[str, int] = field(default_factory=dict)
    finished_early: dict[str, int] = field(default_factory=dict)
    checked: int = 0
    unreadable: int = 0
    resolves: int = 0
    resolve_failures: int = 0
    failure_samples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.unreadable == 0 and self.resolve_failures == 0 and self.checked > 0


def seed(engine: Engine, vault: Vault, credentials: int) -> Seeded:
    """One account, `credentials / 5` workspaces (one data key each), 5 keys in each."""
    actors: dict[str, Actor] = {}
    expected: dict[str, tuple[str, str]] = {}
    with Session(engine, expire_on_commit=False) as db:
        account = identity.create_account(db, vault=vault, name="Drill", slug="drill", by="drill")
        user = identity.create_user(
            db, email="drill@drill.test", name="Drill", password=DRILL_PASSWORD
        )
        for w in range(max(1, credentials // PER_WORKSPACE)):
            ws = identity.create_workspace(
                db, vault=vault, account_id=account.id, name=f"W{w}", slug=f"w{w}", by="drill"
            )
            identity.add_member(db, workspace_id=ws.id, user_id=user.id, role="admin", by="drill")
            actors[ws.id] = Actor(
                user_id=user.id,
                label="drill@drill.test",
                account_id=account.id,
                workspace_id=ws.id,
                role=Role.ADMIN,
                is_account_admin=False,
            )
        workspaces = list(actors)
        for n in range(credentials):
            ws_id = workspaces[n % len(workspaces)]
            key = f"sk_test_{os.urandom(12).hex()}"
            view = service.create(
                db,
                actor=actors[ws_id],
                app="stripe",
                kind="api_key",
                label=f"Stripe {n:05d}",
                fields={"secret_key": key},
                vault=vault,
            )
            expected[view.id] = (ws_id, key)
    return Seeded(actors, expected)


def resolve(db: Session, vault: Vault, actor: Actor, connection_id: str) -> str | None:
    """The run-time path up to sending: the Authorization header it would send."""
    conn = connection_scope.get_connection(db, actor, connection_id)
    policy.ensure(actor, Op.USE, conn)
    app = get_catalog().get(conn.app)
    method = app.auth_method(conn.kind)
    # The connection's own service as this installation's catalog names it (the tests'
    # stand-in, once a test has pointed the catalog there).
    request = httpx.Request("POST", app.resolve_base_url(conn.config) + "/v1/customers")
    runtime.authorize(
        db, vault=vault, conn=conn, method=method, purpose=Purpose.LIVE, request=request
    )
    return request.headers.get("Authorization")


class ResolveLoop(threading.Thread):
    """Resolves random credentials until stopped; every failure is counted."""

    def __init__(self, engine: Engine, seeded: Seeded, figures: Figures) -> None:
        super().__init__(daemon=True)
        self.engine, self.seeded, self.figures = engine, seeded, figures
        self.stop = threading.Event()
        self.ids = list(seeded.expected)

    def run(self) -> None:
        rng = random.Random(7)  # noqa: S311 (a drill picks, not a secret)
        vault: Vault | None = None
        while not self.stop.is_set():
            connection_id = rng.choice(self.ids)
            ws_id, key = self.seeded.expected[connection_id]
            try:
                with Session(self.engine) as db:
                    if vault is None or self.figures.resolves % 25 == 0:
                        vault = open_vault(db, get_settings())  # cold: unwraps through the ring
                    header = resolve(db, vault, self.seeded.actors[ws_id], connection_id)
                    db.rollback()
                ok = header == f"Bearer {key}"
                problem = "wrong header"
            except Exception as err:
                ok, problem = False, f"{type(err).__name__}: {err}"
            self.figures.resolves += 1
            if not ok:
                self.figures.resolve_failures += 1
                if len(self.figures.failure_samples) < 5:
                    self.figures.failure_samples.append(problem[:300])
            time.sleep(0.005)


def _admin(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [ADMIN, *args], env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    if check and result.returncode != 0:
        raise SystemExit(f"connections-admin {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result


def killed_runs(
    env: dict[str, str],
    args: list[str],
    *,
    label: str,
    remaining: Callable[[], int],
    batch_size: int,
    kills: int,
    rng: random.Random,
    out: TextIO,
) -> tuple[int, int]:
    """Start `args` `kills` times and SIGKILL it after a random batch; then run it to the
    end. Returns (kills that landed mid-run, runs that finished before their kill)."""
    landed = early = 0
    for kill in range(kills):
        left = remaining()
        if left == 0:
            break
        batches = max(1, -(-left // batch_size))
        # spread the kills: no run may use more than its share of what is left
        target = rng.randint(1, max(1, batches // (kills - kill + 1)))
        proc = subprocess.Popen(
            [ADMIN, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        seen = 0
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith(label) and not line.split(": ", 1)[1].startswith("0/"):
                seen += 1
                if seen >= target:
                    time.sleep(rng.uniform(0, 0.005))
                    proc.send_signal(signal.SIGKILL)
                    break
        code = proc.wait()
        proc.stderr.close()
        if code == -signal.SIGKILL:
            landed += 1
        else:
            early += 1
        print(f"  {label}: kill {landed + early}: {remaining()} left", file=out, flush=True)
    _admin(env, *args)
    return landed, early


def run_drill(
    db_url: str,
    data_dir: Path,
    *,
    credentials: int,
    kills: int,
    seed_value: int = 1,
    out: TextIO = sys.stdout,
) -> Figures:
    figures = Figures(credentials=credentials)
    rng = random.Random(seed_value)  # noqa: S311 (repeatable kill points)
    env = {
        **os.environ,
        "REFLEX_DB_URL": db_url,
        "CONNECTIONS_DATA_DIR": str(data_dir),
        "CONNECTIONS_LOG_LEVEL": "WARNING",
    }
    for name in ("CONNECTIONS_MASTER_KEY", "CONNECTIONS_PREVIOUS_MASTER_KEY"):
        env.pop(name, None)
        os.environ.pop(name, None)
    os.environ["REFLEX_DB_URL"] = db_url
    os.environ["CONNECTIONS_DATA_DIR"] = str(data_dir)
    get_settings.cache_clear()
    migrations.upgrade(db_url)
    engine = build_engine(db_url)
    started = time.perf_counter()
    with Session(engine) as db:
        vault = open_vault(db, get_settings())  # file mode: creates data_dir/master.key
    seeded = seed(engine, vault, credentials)
    print(f"seeded {credentials} credentials in {time.perf_counter() - started:.1f} s", file=out)

    loop = ResolveLoop(engine, seeded, figures)
    loop.start()
    try:
        new_key = data_dir / "new.key"
        new_key.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
        new_key.chmod(0o600)
        with Session(engine) as db:
            live = len(db.exec(select(DataKey.id).where(DataKey.state != "destroyed")).all())
        batch = max(1, live // (6 * kills))

        new_kek = LocalMasterKey(parse_master_key(new_key.read_text())).kek_id

        def under_old_kek() -> int:
            """Data keys not yet under the new KEK (+1 while it is not installed)."""
            active = LocalMasterKey(parse_master_key((data_dir / "master.key").read_text()))
            with Session(engine) as db:
                left = db.exec(
                    select(DataKey.id).where(
                        DataKey.state != "destroyed", DataKey.kek_id != new_kek
                    )
                ).all()
            return len(left) + (0 if active.kek_id == new_kek else 1)

        args = ["keys", "rotate-master", "--new-key-file", str(new_key)]
        args += ["--batch-size", str(batch), "--batch-lines"]
        landed, early = killed_runs(
            env,
            args,
            label="re-wrap data keys",
            remaining=under_old_kek,
            batch_size=batch,
            kills=kills,
            rng=rng,
            out=out,
        )
        figures.kills["master"], figures.finished_early["master"] = landed, early
        _admin(env, "keys", "retire-master")

        def under_retired() -> int:
            """Fields under an old version (+1 until the rotation has started and ended)."""
            with Session(engine) as db:
                pending = sealed_rows.count_under_retired(db)
                rotating = db.exec(select(DataKey.id).where(DataKey.state == "retired")).first()
                started = db.exec(select(DataKey.id).where(DataKey.version > 1)).first()
            return pending + (1 if rotating is not None or started is None else 0)

        batch = max(1, credentials // (6 * kills))
        args = ["keys", "rotate-data-key", "--all", "--batch-size", str(batch), "--batch-lines"]
        landed, early = killed_runs(
            env,
            args,
            label="re-seal secrets",
            remaining=under_retired,
            batch_size=batch,
            kills=kills,
            rng=rng,
            out=out,
        )
        figures.kills["data key"], figures.finished_early["data key"] = landed, early
        time.sleep(0.2)
    finally:
        loop.stop.set()
        loop.join()

    with Session(engine) as db:
        fresh = open_vault(db, get_settings())  # a restart: the new ring only, cold cache
        retired = db.exec(select(DataKey.id).where(DataKey.state == "retired")).all()
        old_kek = db.exec(
            select(DataKey.id).where(DataKey.state != "destroyed", DataKey.kek_id != fresh.kek_id)
        ).all()
        for connection_id, (ws_id, key) in seeded.expected.items():
            figures.checked += 1
            try:
                header = resolve(db, fresh, seeded.actors[ws_id], connection_id)
            except Exception:
                header = None
            if header != f"Bearer {key}":
                figures.unreadable += 1
            db.rollback()
    if retired or old_kek:
        figures.unreadable += len(retired) + len(old_kek)  # a rotation left unfinished
    engine.dispose()
    return figures


def report(figures: Figures, out: TextIO = sys.stdout) -> None:
    kills = sum(figures.kills.values())
    print(
        f"kills survived: {kills} (master key {figures.kills.get('master', 0)}, "
        f"data key {figures.kills.get('data key', 0)}; runs that finished before their kill: "
        f"{sum(figures.finished_early.values())})",
        file=out,
    )
    print(
        f"credentials checked: {figures.checked} of {figures.credentials}, "
        f"unreadable: {figures.unreadable}",
        file=out,
    )
    print(
        f"resolve failures: {figures.resolve_failures} of {figures.resolves} concurrent resolves",
        file=out,
    )
    for sample in figures.failure_samples:
        print(f"  failure: {sample}", file=out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--credentials", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--db-url", help="an empty database (default: a throwaway SQLite file)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="drill-rotation-") as tmp:
        data_dir = Path(tmp)
        db_url = args.db_url or f"sqlite:///{data_dir / 'drill.db'}"
        figures = run_drill(
            db_url, data_dir, credentials=args.credentials, kills=args.kills, seed_value=args.seed
        )
    report(figures)
    return 0 if figures.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
