"""`make run-scaled`: the scaled set on one machine, every part on loopback.

PostgreSQL (a cluster kept between runs) and Redis (nothing kept), migrations, the
demo seed, the stand-in provider, `--refreshers` refresher processes and the app in
prod mode with `--workers` backend workers sharing Redis. It says the app is up only
once `/readyz` answers 200. Ctrl-C (or SIGTERM) stops everything, newest first: the
app, the refreshers (SIGINT, so a pass in flight ends as `connections-admin` ends
one), the stand-in, Redis, then PostgreSQL (a fast, clean shutdown).

Once up, it writes `stack.json` in its data directory (mode 0600: the database URL
carries the local cluster's password) with the addresses of every part, so that a
test can drive the set it started (tests/e2e/scaled_stack.py); it is removed on stop.

`--check` starts everything, waits for readiness, then stops it all and exits 0:
the test of this script. `--no-app` leaves out the web app (its prod build takes
minutes): the integration test starts the rest that way.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import local_services

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BUN_DIR = ROOT / ".tools" / "node_modules" / ".bin"  # `make deps` installs bun here
START_TIMEOUT_S = 900  # the first prod build installs the frontend packages
STOP_TIMEOUT_S = 20
STACK_FILE = "stack.json"


class Stack:
    """The processes started so far, stopped in reverse order whatever happens."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.processes: list[tuple[str, subprocess.Popen, int]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], stop_with: int) -> None:
        log = (self.data_dir / f"{name}.log").open("w")
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a group of its own: Ctrl-C reaches us, we stop it
        )
        self.processes.append((name, proc, stop_with))

    def exited(self) -> list[str]:
        return [name for name, proc, _ in self.processes if proc.poll() is not None]

    def stop(self) -> list[str]:
        """Stop every process group; the names of those that needed SIGKILL."""
        killed: list[str] = []
        for name, proc, sig in reversed(self.processes):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    killed.append(name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # any child left behind in its group
            proc.wait(timeout=10)
        self.processes.clear()
        return killed


@contextlib.contextmanager
def postgresql(data_dir: Path) -> Iterator[local_services.Postgres]:
    cluster = local_services.postgres(local_services.scaled_cluster_dir(data_dir))
    if cluster is None:
        raise SystemExit("run-scaled: PostgreSQL is not installed (apt-get install postgresql)")
    if cluster.running():  # left by a run that was killed: stop it, start on our port
        cluster.stop()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop("fast")


def admin(env: dict[str, str], *args: str, stdin: str = "") -> None:
    result = subprocess.run(
        [str(BIN / "connections-admin"), *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise SystemExit(f"run-scaled: connections-admin {args[0]} failed:\n{result.stderr}")


def write_stack_file(path: Path, **parts: object) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({k: str(v) if isinstance(v, Path) else v for k, v in parts.items()}, out)


def wait_ready(url: str, stack: Stack) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if stack.exited():
            raise SystemExit(f"run-scaled: {', '.join(stack.exited())} exited early (see logs)")
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(f"{url}/readyz", timeout=12) as answer,  # noqa: S310
        ):
            if answer.status == 200:
                return
        time.sleep(1)
    raise SystemExit(f"run-scaled: the app was not ready within {START_TIMEOUT_S}s")


def wait_refreshing(stack: Stack, count: int) -> None:
    """Up means every refresher has finished a first pass (`--verbose` logs each)."""
    deadline = time.monotonic() + 120
    logs = [stack.data_dir / f"refresher-{n}.log" for n in range(1, count + 1)]
    while not all('"pass": 1' in log.read_text(errors="replace") for log in logs):
        if stack.exited():
            raise SystemExit(f"run-scaled: {', '.join(stack.exited())} exited early (see logs)")
        if time.monotonic() > deadline:
            raise SystemExit("run-scaled: the refreshers did not complete a pass within 120s")
        time.sleep(0.5)


def run(args: argparse.Namespace) -> int:
    from connections_app.standin.oauth import client_id_for, client_secret_for
    from connections_app.standin.overrides import OAUTH_CATALOG_APPS, catalog_env

    base = Path(os.environ.get("CONNECTIONS_DATA_DIR", ROOT / "data")).resolve()
    data_dir = base / "scaled"
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(data_dir, 0o700)
    (data_dir / "redis").mkdir(exist_ok=True, mode=0o700)
    app_url = f"http://localhost:{args.port}"
    standin_url = f"http://127.0.0.1:{args.standin_port}"
    stack = Stack(data_dir)
    with postgresql(data_dir) as pg, local_services.redis_server(data_dir / "redis") as redis:
        env = {
            **os.environ,
            **catalog_env(standin_url),
            "CONNECTIONS_DATA_DIR": str(data_dir),  # the master key file lives here
            "REFLEX_DB_URL": pg.url,
            "REFLEX_REDIS_URL": redis,
            "CONNECTIONS_APP_URL": app_url,
            "REFLEX_API_URL": app_url,
            "GRANIAN_WORKERS": str(args.workers),
            "REFLEX_TELEMETRY_ENABLED": "false",
            "REFLEX_USE_SYSTEM_BUN": "1",
            "PATH": os.pathsep.join([str(BUN_DIR), str(BIN), os.environ.get("PATH", "")]),
        }
        env.pop("REFLEX_ASYNC_DB_URL", None)
        admin(env, "db", "upgrade")
        admin(env, "demo", "seed")
        for app in OAUTH_CATALOG_APPS:
            admin(
                env,
                *("oauth-client", "set", "--app", app, "--client-id", client_id_for(app)),
                stdin=client_secret_for(app),
            )
        py = sys.executable
        try:
            stack.start(
                "standin",
                [py, "-m", "connections_app.standin", "--port", str(args.standin_port)],
                env,
                signal.SIGTERM,
            )
            for n in range(1, args.refreshers + 1):
                stack.start(
                    f"refresher-{n}",
                    [str(BIN / "connections-admin"), "refresher", "--verbose"],
                    env,
                    signal.SIGINT,
                )
            wait_refreshing(stack, args.refreshers)
            if not args.no_app:
                stack.start(
                    "app",
                    local_services.reflex_prod_argv(py, args.port, host="127.0.0.1"),
                    env,
                    signal.SIGTERM,
                )
                print(f"run-scaled: building and starting the app (logs in {data_dir})")
                wait_ready(app_url, stack)
            write_stack_file(
                data_dir / STACK_FILE,
                app_url=None if args.no_app else app_url,
                db_url=pg.url,
                redis_url=redis,
                standin_url=standin_url,
                data_dir=data_dir,
            )
            print(
                f"run-scaled: up — {app_url if not args.no_app else '(no app)'} with "
                f"{args.workers} worker(s), {args.refreshers} refresher(s), PostgreSQL "
                f"127.0.0.1:{pg.port}, Redis {redis}, stand-in {standin_url}. "
                "Demo logins as for `make run`; Ctrl-C stops everything.",
                flush=True,
            )
            if not args.check:
                while not stack.exited():
                    time.sleep(1)
                print(f"run-scaled: {', '.join(stack.exited())} exited; stopping the rest")
        except KeyboardInterrupt:
            print("\nrun-scaled: stopping…", flush=True)
        finally:
            killed = stack.stop()
            (data_dir / STACK_FILE).unlink(missing_ok=True)
    if killed:
        print(f"run-scaled: {', '.join(killed)} had to be killed", file=sys.stderr)
        return 1
    print("run-scaled: stopped (app, refreshers, stand-in, Redis, PostgreSQL)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/run_scaled.py", description=__doc__)
    parser.add_argument("--workers", type=int, default=2, help="backend workers (Granian)")
    parser.add_argument("--refreshers", type=int, default=2, help="refresher processes")
    parser.add_argument("--port", type=int, default=3000, help="the app's loopback port")
    parser.add_argument("--standin-port", type=int, default=8765)
    parser.add_argument("--check", action="store_true", help="start, wait until ready, stop")
    parser.add_argument("--no-app", action="store_true", help="everything but the web app")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.refreshers < 0:
        parser.error("--workers must be at least 1 and --refreshers at least 0")
    # SIGTERM (a service manager, `kill`) stops as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
