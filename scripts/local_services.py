"""PostgreSQL and Redis on loopback from the Debian packages, for `make run-scaled`
and the tests (tests/redis_server.py, the readiness test). Standard library only, so
it runs before anything is installed; loopback only, nothing else is ever bound.

As root, PostgreSQL runs as the `postgres` user, which must reach the cluster
directory: /tmp and the project's 0700 data folder are closed to it, so root's
clusters live under postgres' home (as scripts/with-postgres.sh does).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def _as_root() -> bool:
    return os.geteuid() == 0


def cluster_dir(name: str, home: Path) -> Path:
    """Where a cluster called `name` lives: under `home` normally, under postgres'
    home as root (the server cannot enter root's private folders)."""
    if not _as_root():
        return home / name
    try:
        pg_home = Path(pwd.getpwnam("postgres").pw_dir)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
        pg_home = Path(pwd.getpwnam("postgres").pw_dir)
    if str(pg_home) in ("", "/nonexistent"):
        pg_home = Path("/var/lib/postgresql")
    return pg_home / "connections-clusters" / name


def scaled_cluster_dir(data_dir: Path) -> Path:
    """The cluster `make run-scaled` keeps for a data folder (as root under postgres'
    home, so the name carries the folder's hash: two checkouts never share one)."""
    tag = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:10]
    return cluster_dir(f"scaled-{tag}", data_dir)


@dataclass
class Postgres:
    """One cluster: `init` once, then `start`/`stop` as often as wanted (same port)."""

    workdir: Path
    port: int
    bin_dir: Path

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if _as_root() else []
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)

    @property
    def password(self) -> str:
        return (self.workdir / "pw").read_text().strip()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        """A new cluster with a random superuser password, unless one is already there."""
        if (self.data / "PG_VERSION").exists():
            return
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.workdir, 0o700)
        pw = self.workdir / "pw"
        pw.write_text(secrets.token_urlsafe(18) + "\n")
        os.chmod(pw, 0o600)
        if _as_root():
            for path in (self.workdir.parent, self.workdir, pw):
                shutil.chown(path, "postgres")
        result = self._run(
            str(self.bin_dir / "initdb"),
            *("-D", str(self.data), "-U", "postgres", f"--pwfile={pw}"),
            *("--auth=scram-sha-256", "-E", "UTF8"),
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{result.stdout}{result.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1"
        result = self._run(
            str(self.bin_dir / "pg_ctl"),
            *("-D", str(self.data), "-l", str(self.workdir / "server.log")),
            *("-w", "-t", "60", "-o", options, "start"),
        )
        if result.returncode != 0:
            log = self.workdir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start:\n{result.stderr}{tail}")

    def stop(self, mode: str = "fast") -> None:
        """Stop and wait; a cluster that is not running is fine."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        status = self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "status")
        return status.returncode == 0


def postgres(workdir: Path, port: int | None = None) -> Postgres | None:
    """A cluster in `workdir` (made if missing) on `port` (a free one if None), not yet
    started; None when PostgreSQL is not installed."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        return None
    cluster = Postgres(workdir=workdir, port=port or free_port(), bin_dir=bin_dir)
    cluster.init()
    return cluster


def reflex_prod_argv(python: str, port: int, host: str | None = None) -> list[str]:
    """The app as `make run-scaled` and the e2e tests start it: a production build,
    pages and backend (routes, the `/_event` websocket) on one port."""
    where = ["--backend-host", host] if host else []
    return [
        *(python, "-m", "reflex", "run", "--env", "prod", "--single-port", *where),
        *("--frontend-port", str(port), "--backend-port", str(port)),
    ]


@contextmanager
def redis_server(workdir: Path, port: int | None = None) -> Iterator[str]:
    """A Redis on loopback that keeps nothing on disk; yields its redis:// URL and stops
    it afterwards. Raises RuntimeError when redis-server is missing or does not start."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian package redis-server)")
    port = port or free_port()
    proc = subprocess.Popen(
        [
            binary,
            *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
            *("--dir", str(workdir), "--protected-mode", "yes"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not _redis_answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _redis_answers(port: int) -> bool:
    """PING over a raw socket: no client library needed before `make deps`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False
