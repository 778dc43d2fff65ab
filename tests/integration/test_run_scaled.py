"""`make run-scaled` (scripts/run_scaled.py) brings up its parts and stops every one.

The web app's prod build takes minutes, so this starts everything else — PostgreSQL,
Redis, migrations, the demo seed, the stand-in and two refresher processes — with
`--check --no-app`, then checks that it came up, stopped cleanly and left nothing
running. The app part is what tests/e2e/live_app.py starts the same way (prod,
`--single-port`, two workers on Redis, waiting on /readyz)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import local_services

ROOT = Path(__file__).resolve().parents[2]


def _running(pattern: str) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return [line for line in ps.stdout.splitlines() if pattern in line]


def test_run_scaled_check_starts_and_stops_everything(tmp_path: Path) -> None:
    if local_services.postgres_bin() is None or local_services.shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL and redis-server are required in CI")
        pytest.skip("PostgreSQL or redis-server is not installed")
    standin_port = local_services.free_port()
    env = {**os.environ, "CONNECTIONS_DATA_DIR": str(tmp_path)}
    for name in ("REFLEX_DB_URL", "REFLEX_REDIS_URL", "CONNECTIONS_MASTER_KEY"):
        env.pop(name, None)
    result = subprocess.run(
        [
            *(sys.executable, "scripts/run_scaled.py", "--check", "--no-app"),
            *("--refreshers", "2", "--standin-port", str(standin_port)),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    up = re.search(
        r"PostgreSQL 127\.0\.0\.1:(\d+), Redis redis://127\.0\.0\.1:(\d+)/0", result.stdout
    )
    assert up, result.stdout
    assert "stopped (app, refreshers, stand-in, Redis, PostgreSQL)" in result.stdout

    scaled = tmp_path / "scaled"
    assert (scaled / "master.key").stat().st_mode & 0o077 == 0
    for n in (1, 2):  # each refresher made a pass and ended on SIGINT, as Ctrl-C ends it
        log = (scaled / f"refresher-{n}.log").read_text()
        assert '"pass": 1' in log and log.strip().endswith("interrupted"), log
    # Nothing is left: no server answers on the ports it used, no process of ours runs.
    for port in (int(up.group(1)), int(up.group(2)), standin_port):
        with pytest.raises(OSError):
            local_services.socket.create_connection(("127.0.0.1", port), timeout=1).close()
    cluster = local_services.scaled_cluster_dir(scaled)
    assert _running(str(scaled)) == [] and _running(str(cluster)) == []
    assert _running(f"--port {standin_port}") == []
    local_services.shutil.rmtree(cluster, ignore_errors=True)  # root keeps it elsewhere
