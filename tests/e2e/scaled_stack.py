"""The e2e session on the scaled set: `scripts/run_scaled.py` exactly as `make
run-scaled` runs it (PostgreSQL, Redis, two app workers, two refresher processes and
the stand-in, all on loopback), selected with `E2E_STACK=scaled`.

`make test` runs the OAuth lifecycle and banner e2e a second time this way, so the
browser flows are proven against the set an operator starts, not only against the
test fixture's own (SQLite, in-process stand-in). The stack's stop is checked too:
SIGINT, as Ctrl-C, must stop every part without SIGKILL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from connections_app.standin.overrides import catalog_env
from scripts import local_services

ROOT = Path(__file__).resolve().parents[2]
SELECTED = os.environ.get("E2E_STACK") == "scaled"
START_TIMEOUT_S = 900  # the prod build of the frontend comes first


@dataclass
class ScaledStack:
    app_url: str
    db_url: str
    redis_url: str
    standin_url: str
    data_dir: Path
    log_path: Path

    def env(self) -> dict[str, str]:
        """What `connections-admin` needs to act on this stack's database."""
        env = {
            **os.environ,
            **catalog_env(self.standin_url),
            "CONNECTIONS_DATA_DIR": str(self.data_dir),
            "REFLEX_DB_URL": self.db_url,
            "REFLEX_REDIS_URL": self.redis_url,
            "REFLEX_STATES_WORKDIR": str(self.data_dir / "states"),  # unused with Redis
        }
        env.pop("CONNECTIONS_MASTER_KEY", None)  # the stack's key file, as deployed
        env.pop("REFLEX_ASYNC_DB_URL", None)
        return env


def _missing_parts() -> str | None:
    if local_services.postgres_bin() is None:
        return "PostgreSQL is not installed"
    if local_services.shutil.which("redis-server") is None:
        return "redis-server is not installed"
    return None


@contextlib.contextmanager
def started(workdir: Path) -> Iterator[ScaledStack]:
    missing = _missing_parts()
    if missing:
        raise RuntimeError(f"the scaled e2e stack needs PostgreSQL and Redis: {missing}")
    env = {**os.environ, "CONNECTIONS_DATA_DIR": str(workdir)}
    for name in ("REFLEX_DB_URL", "REFLEX_REDIS_URL", "CONNECTIONS_MASTER_KEY", "TEST_DB_URL"):
        env.pop(name, None)
    port, standin_port = local_services.free_port(), local_services.free_port()
    out = (workdir / "run-scaled.out").open("w")
    proc = subprocess.Popen(
        [
            *(sys.executable, "scripts/run_scaled.py", "--workers", "2", "--refreshers", "2"),
            *("--port", str(port), "--standin-port", str(standin_port)),
        ],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack_file = workdir / "scaled" / "stack.json"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not stack_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "make run-scaled did not come up:\n"
                    + (workdir / "run-scaled.out").read_text(errors="replace")[-4000:]
                )
            time.sleep(1)
        parts = json.loads(stack_file.read_text())
        data_dir = Path(parts["data_dir"])
        yield ScaledStack(
            app_url=parts["app_url"],
            db_url=parts["db_url"],
            redis_url=parts["redis_url"],
            standin_url=parts["standin_url"],
            data_dir=data_dir,
            log_path=data_dir / "app.log",
        )
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the script stops its parts
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        out.close()
    report = (workdir / "run-scaled.out").read_text(errors="replace")
    if "run-scaled: stopped" not in report or proc.returncode != 0:
        raise RuntimeError(f"make run-scaled did not stop cleanly:\n{report[-4000:]}")
    local_services.shutil.rmtree(
        local_services.scaled_cluster_dir(workdir / "scaled"), ignore_errors=True
    )
