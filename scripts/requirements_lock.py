"""Keep `requirements.lock` (exact versions with hashes) in step with `pyproject.toml`.

`make run`, `make test` and `make run-scaled` install from the lock so that a fresh
machine gets the set CI proved, not whatever the open ranges resolve to that day.
The lock carries a stamp of the dependency declarations it was made from; `--check`
(run by `make lint`, so by CI) refuses a lock whose stamp no longer matches, or that
pins a version outside a declared range, without touching the network.

    python scripts/requirements_lock.py --check
    python scripts/requirements_lock.py --write --uv PATH [--constraint FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAMP_PREFIX = "# pyproject-sha256: "
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")


def declared(pyproject: Path) -> list[str]:
    """What the lock must satisfy: the runtime dependencies plus the dev extra."""
    project = tomllib.loads(pyproject.read_text())["project"]
    return [*project["dependencies"], *project.get("optional-dependencies", {}).get("dev", [])]


def stamp(pyproject: Path) -> str:
    project = tomllib.loads(pyproject.read_text())["project"]
    basis = {
        "requires-python": project.get("requires-python", ""),
        "requirements": sorted(declared(pyproject)),
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock_text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lock_text.splitlines():
        match = _PIN.match(line)
        if match:
            found[_canonical(match.group(1))] = match.group(3)
    return found


def problems(pyproject: Path, lock: Path) -> list[str]:
    """Every reason the lock cannot be installed as the truth for this pyproject."""
    from packaging.requirements import Requirement

    if not lock.exists():
        return [f"{lock.name} is missing: run `make lock`"]
    text = lock.read_text()
    found: list[str] = []
    stamps = [
        line[len(STAMP_PREFIX) :].strip()
        for line in text.splitlines()
        if line.startswith(STAMP_PREFIX)
    ]
    if stamps != [stamp(pyproject)]:
        found.append(f"{lock.name} was not made from this pyproject.toml: run `make lock`")
    pinned = pins(text)
    for spec in declared(pyproject):
        req = Requirement(spec)
        version = pinned.get(_canonical(req.name))
        if version is None:
            found.append(f"{req.name} is declared but not pinned in {lock.name}")
        elif not req.specifier.contains(version, prereleases=True):
            found.append(f"{req.name}=={version} in {lock.name} is outside {req.specifier}")
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    if body and not any("--hash=sha256:" in line for line in body):
        found.append(f"{lock.name} has no hashes: run `make lock`")
    return found


def write(pyproject: Path, lock: Path, uv: str, constraint: str | None) -> None:
    command = [
        uv, "pip", "compile", str(pyproject), "--extra", "dev", "--generate-hashes",
        "--python-version", "3.11", "--no-header", "--no-annotate", "--quiet",
    ]  # fmt: skip
    if constraint:
        command += ["--constraint", constraint]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "requirements.lock"
        subprocess.run([*command, "-o", str(out)], check=True)
        body = out.read_text()
    header = (
        "# Exact versions with hashes of every Python dependency; install with\n"
        "#   pip install --require-hashes -r requirements.lock\n"
        "# Made by `make lock` from pyproject.toml; `make lint` checks the stamp below.\n"
        f"{STAMP_PREFIX}{stamp(pyproject)}\n"
    )
    lock.write_text(header + body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--write", action="store_true")
    parser.add_argument("--uv", default="uv")
    parser.add_argument("--constraint")
    args = parser.parse_args(argv)
    if args.write:
        write(args.pyproject, args.lock, args.uv, args.constraint)
    found = problems(args.pyproject, args.lock)
    for problem in found:
        print(f"lock: {problem}", file=sys.stderr)
    if not found:
        print(f"lock: {args.lock.name} matches {args.pyproject.name}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
