"""A throwaway Redis on loopback for the scale-out tests (several workers, one bus)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scripts import local_services


@contextmanager
def redis_server(workdir: Path) -> Iterator[str | None]:
    """Yield a redis:// URL, or None when redis-server is not installed (outside CI).

    `TEST_WITHOUT_REDIS=1` (outside CI) runs the single-worker, disk-state setup even
    where Redis is installed, to exercise what `make run` uses by default."""
    binary = shutil.which("redis-server")
    if os.environ.get("TEST_WITHOUT_REDIS") == "1" and os.environ.get("CI") != "true":
        binary = None
    if binary is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("redis-server is missing (CI requires it; .ci/run installs it)")
        yield None
        return
    with local_services.redis_server(workdir) as url:
        yield url


def dump(url: str) -> str:
    """Every value Redis holds, as text: leak checks read it like `.states/`."""
    import redis

    client = redis.Redis.from_url(url)
    parts: list[str] = []
    for key in client.scan_iter(count=500):
        kind = client.type(key)
        if kind == b"string":
            parts.append((client.get(key) or b"").decode("latin-1"))
        elif kind == b"hash":
            parts.extend(v.decode("latin-1") for v in client.hgetall(key).values())
    return "\n".join(parts)
