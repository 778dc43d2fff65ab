"""The lock check `make lint` runs: it passes on this tree and fails on each drift."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = ROOT / "scripts" / "requirements_lock.py"
_spec = importlib.util.spec_from_file_location("requirements_lock", _SCRIPT)
assert _spec and _spec.loader
lock_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock_check)


def _copies(tmp_path: Path) -> tuple[Path, Path]:
    pyproject = tmp_path / "pyproject.toml"
    lock = tmp_path / "requirements.lock"
    shutil.copy(ROOT / "pyproject.toml", pyproject)
    shutil.copy(ROOT / "requirements.lock", lock)
    return pyproject, lock


def test_the_committed_lock_matches_the_committed_pyproject() -> None:
    assert lock_check.problems(ROOT / "pyproject.toml", ROOT / "requirements.lock") == []


def test_every_pin_carries_hashes() -> None:
    blocks: list[list[str]] = []
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if not line.startswith(" "):
            blocks.append([])
        blocks[-1].append(line)
    assert len(blocks) == len(lock_check.pins((ROOT / "requirements.lock").read_text())) > 30
    for block in blocks:
        assert "==" in block[0]
        assert any(line.strip().startswith("--hash=sha256:") for line in block[1:]), block[0]


def test_a_new_dependency_without_a_new_lock_is_refused(tmp_path: Path) -> None:
    pyproject, lock = _copies(tmp_path)
    extra = '"uvicorn>=0.30,<1",\n    "zzz-not-a-dependency>=1",'
    pyproject.write_text(pyproject.read_text().replace('"uvicorn>=0.30,<1",', extra))
    found = lock_check.problems(pyproject, lock)
    assert any("not made from this pyproject.toml" in p for p in found)
    assert any(p.startswith("zzz-not-a-dependency is declared but not pinned") for p in found)


def test_a_pin_outside_the_declared_range_is_refused(tmp_path: Path) -> None:
    pyproject, lock = _copies(tmp_path)
    pinned = lock_check.pins(lock.read_text())["httpx"]
    lock.write_text(lock.read_text().replace(f"httpx=={pinned}", "httpx==0.20.0"))
    assert any("httpx==0.20.0" in p for p in lock_check.problems(pyproject, lock))


def test_a_lock_without_hashes_or_stamp_is_refused(tmp_path: Path) -> None:
    pyproject, lock = _copies(tmp_path)
    lines = [
        line
        for line in lock.read_text().splitlines()
        if "--hash" not in line and not line.startswith(lock_check.STAMP_PREFIX)
    ]
    lock.write_text("\n".join(line.rstrip(" \\") for line in lines) + "\n")
    found = lock_check.problems(pyproject, lock)
    assert any("no hashes" in p for p in found)
    assert any("not made from" in p for p in found)
    assert lock_check.problems(pyproject, tmp_path / "absent.lock") == [
        "absent.lock is missing: run `make lock`"
    ]
