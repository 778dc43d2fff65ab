"""SQLite's write lock as `db._begin_immediate` takes it (short retries instead of the
busy handler's long sleeps): a writer waits for another's lock and writes once it is
released; one that waits past the busy timeout fails with the usual OperationalError,
and its pooled connection keeps the normal busy timeout and stays usable."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from connections_app.core import db as database
from connections_app.core.db import build_engine


def _hold(engine: Engine, seconds: float, released: list[float]) -> threading.Thread:
    """Another writer holding the write lock for `seconds` (its release time noted)."""
    held = threading.Event()

    def hold() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            held.set()
            time.sleep(seconds)
            released.append(time.monotonic())

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(5)
    return thread


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = build_engine(f"sqlite:///{tmp_path}/lock.db")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    yield engine
    engine.dispose()


def test_a_writer_waits_for_the_lock_then_writes(sqlite_engine: Engine) -> None:
    released: list[float] = []
    thread = _hold(sqlite_engine, 0.06, released)
    with sqlite_engine.begin() as conn:
        got = time.monotonic()
        conn.execute(text("INSERT INTO t VALUES (2)"))
    thread.join()
    assert released and got >= released[0]  # never inside the other's transaction
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_a_writer_waiting_past_the_timeout_fails_cleanly(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 0.05)
    thread = _hold(sqlite_engine, 0.4, [])
    with pytest.raises(OperationalError, match="locked"), sqlite_engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
    thread.join()
    monkeypatch.undo()
    with sqlite_engine.begin() as conn:  # the pooled connection works afterwards
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        conn.execute(text("INSERT INTO t VALUES (3)"))
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2
