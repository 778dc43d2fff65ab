"""Engine and session factory for the embedded SQLite default and PostgreSQL.

SQLite gets foreign keys, WAL and `BEGIN IMMEDIATE`: the audit hash chain reads
its head and appends in one transaction, and only an immediate write lock keeps
two writers in the same process from racing on that head. Read-only work
(`read_scope`) begins a plain deferred transaction instead, under
`PRAGMA query_only`: it takes no write lock (WAL readers never wait for a writer,
nor a writer for them), and a write slipped into it fails loudly. On PostgreSQL a
read scope is a READ ONLY transaction.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlmodel import Session, create_engine

from connections_app.core.settings import get_settings

READ_ONLY = "connections_read_only"
PING_AFTER_IDLE_S = 1.0  # a pooled PostgreSQL connection idle this long is pinged first
_IDLE_SINCE = "connections_idle_since"


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        parent = Path(database).resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        os.chmod(parent, 0o700)


def build_engine(url: str, **kwargs: Any) -> Engine:
    """Make an engine with the per-dialect settings this app relies on."""
    if url.startswith("sqlite"):
        _prepare_sqlite_file(url)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, decide when transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            read_only = bool(conn.get_execution_options().get(READ_ONLY))
            # query_only belongs to the pooled connection: switch it only when it changes.
            if conn.info.get(READ_ONLY, False) != read_only:
                conn.exec_driver_sql(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
                conn.info[READ_ONLY] = read_only
            if read_only:
                conn.exec_driver_sql("BEGIN")
            else:
                _begin_immediate(conn.connection.driver_connection)

        return engine
    engine = create_engine(url, **kwargs)
    _ping_after_idle(engine)
    return engine


# Waiting for SQLite's write lock: SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20,
# 25 ms … between tries, so a writer that waits 4 ms for another's short transaction
# sleeps 8, and one that waits 12 sleeps 33. `BEGIN IMMEDIATE` is tried instead with
# no busy wait and retried after short sleeps (doubling up to WRITE_LOCK_MAX_SLEEP_S),
# until BUSY_TIMEOUT_S; every other statement keeps the driver's busy timeout.
BUSY_TIMEOUT_S = 30.0
WRITE_LOCK_MAX_SLEEP_S = 0.001


def _begin_immediate(raw: Any) -> None:
    raw.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        pause = WRITE_LOCK_MAX_SLEEP_S / 8
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as err:
                busy = getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() >= deadline:
                    # the error callers already know (as from any statement)
                    raise OperationalError("BEGIN IMMEDIATE", (), err) from err
            time.sleep(pause)
            pause = min(pause * 2, WRITE_LOCK_MAX_SLEEP_S)
    finally:
        raw.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")


def _ping_after_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it has been idle a while.

    `pool_pre_ping` would ping on every checkout: one more round trip per transaction,
    a tenth of a short write (a connection create is about ten). A connection checked
    in moments ago was alive moments ago; one idle for longer (a server restart, an
    idle timeout) is pinged, and a dead one is replaced before anyone uses it. A
    connection that dies while in use still invalidates the pool on its error.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception:
            alive = False
        if not alive:
            raise DisconnectionError("a pooled connection did not answer its ping")


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    return build_engine(get_settings().db_url)


def reset_engine() -> None:
    """Forget the cached engine (tests switch databases between modules)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that rolls back on error; services commit their own unit of work."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise


@lru_cache(maxsize=4)
def _read_only(engine: Engine) -> Engine:
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["postgresql_readonly"] = True
    return engine.execution_options(**options)


@contextmanager
def read_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session for work that only reads: no write lock on SQLite, READ ONLY elsewhere."""
    with Session(_read_only(engine or get_engine()), expire_on_commit=False) as session:
        try:
            yield session
        finally:
            session.rollback()


def is_read_only(session: Session) -> bool:
    bind = session.get_bind()
    return bool(bind.get_execution_options().get(READ_ONLY))
