"""Drill (scaled down): kill -9 the rotation subprocess at random points, resume, repeat;
every credential still decrypts to its original value and a concurrent resolve loop never
fails. Full size (10,000 credentials, 50 kills): scripts/drill_rotation.py, figures in
docs/reliability.md."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import drill_rotation

CREDENTIALS = 300
KILLS = 5


def test_kill_9_during_master_and_data_key_rotation_loses_nothing(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CONNECTIONS_MASTER_KEY", "CONNECTIONS_PREVIOUS_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REFLEX_DB_URL", db_url)
    monkeypatch.setenv("CONNECTIONS_DATA_DIR", str(tmp_path))
    log = io.StringIO()
    figures = drill_rotation.run_drill(
        db_url, tmp_path, credentials=CREDENTIALS, kills=KILLS, seed_value=3, out=log
    )
    report = io.StringIO()
    drill_rotation.report(figures, report)
    print(report.getvalue())
    assert figures.kills["master"] + figures.finished_early["master"] == KILLS, log.getvalue()
    assert figures.kills["data key"] + figures.finished_early["data key"] == KILLS
    assert figures.kills["master"] >= KILLS - 1 and figures.kills["data key"] >= KILLS - 1
    assert figures.checked == CREDENTIALS
    assert figures.unreadable == 0, report.getvalue()
    assert figures.resolves > 0 and figures.resolve_failures == 0, report.getvalue()
