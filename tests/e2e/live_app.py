"""Start the real app once per test session: migrated and seeded database in a
throwaway data directory, the stand-in provider, and `reflex run --env prod`
serving frontend and backend on one loopback port."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from connections_app.core.vault import generate_master_key
from connections_app.standin.oauth import client_id_for, client_secret_for
from connections_app.standin.overrides import OAUTH_CATALOG_APPS
from scripts.local_services import reflex_prod_argv

ROOT = Path(__file__).resolve().parents[2]
BUN_DIR = ROOT / ".tools" / "node_modules" / ".bin"
START_TIMEOUT_S = 900  # the first build installs the frontend packages


@dataclass
class LiveApp:
    url: str
    data_dir: Path
    env: dict[str, str]
    log_path: Path
    redis_url: str | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    def admin(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        """Run `connections-admin` against the app's database."""
        return subprocess.run(
            [sys.executable, "-m", "connections_app.cli", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    @property
    def states_dir(self) -> Path:
        """Where Reflex's disk state manager keeps this app's states (no Redis)."""
        return Path(self.env["REFLEX_STATES_WORKDIR"])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def build_env(port: int, data_dir: Path, standin_env: dict[str, str]) -> dict[str, str]:
    url = f"http://localhost:{port}"
    env = {
        **os.environ,
        **standin_env,
        "CONNECTIONS_DATA_DIR": str(data_dir),
        "CONNECTIONS_MASTER_KEY": generate_master_key(),
        "REFLEX_DB_URL": f"sqlite:///{data_dir / 'connections.db'}",
        "CONNECTIONS_APP_URL": url,
        "REFLEX_API_URL": url,
        "REFLEX_USE_SYSTEM_BUN": "1",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_STATES_WORKDIR": str(data_dir / "states"),
        "PATH": f"{BUN_DIR}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
        + os.environ.get("PATH", ""),
    }
    env.pop("REFLEX_ASYNC_DB_URL", None)
    env.pop("REFLEX_REDIS_URL", None)
    return env


def start(app: LiveApp, port: int) -> None:
    if not (BUN_DIR / "bun").exists() and shutil.which("bun") is None:
        raise RuntimeError("bun is not installed: run `make deps` (installs bun@1.4.4 in .tools/)")
    for step in (("db", "upgrade"), ("demo", "seed")):
        result = app.admin(*step)
        if result.returncode != 0:
            raise RuntimeError(f"connections-admin {' '.join(step)} failed: {result.stderr}")
    for oauth_app in OAUTH_CATALOG_APPS:
        result = app.admin(
            *("oauth-client", "set", "--app", oauth_app, "--client-id", client_id_for(oauth_app)),
            stdin=client_secret_for(oauth_app),
        )
        if result.returncode != 0:
            raise RuntimeError(f"registering the {oauth_app} OAuth client failed: {result.stderr}")
    log = app.log_path.open("w")
    app.process = subprocess.Popen(
        reflex_prod_argv(sys.executable, port),
        cwd=ROOT,
        env=app.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            raise RuntimeError(f"the app exited early:\n{app.log_text()[-4000:]}")
        try:
            # Ready, not merely alive: database, schema, vault and Redis all answer.
            health = httpx.get(f"{app.url}/readyz", timeout=12)
            page = httpx.get(f"{app.url}/sign-in", timeout=5, follow_redirects=True)
            if health.status_code == 200 and page.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    stop(app)
    raise RuntimeError(f"the app did not come up in time:\n{app.log_text()[-4000:]}")


def stop(app: LiveApp) -> None:
    if app.process is None or app.process.poll() is not None:
        return
    os.killpg(app.process.pid, signal.SIGTERM)
    try:
        app.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(app.process.pid, signal.SIGKILL)
        app.process.wait(timeout=10)
