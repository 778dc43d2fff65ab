"""Is this process ready to serve? The answer a load balancer and `make run-scaled` ask.

Each check answers only True or False: the readiness answer is public (a load
balancer asks it without signing in), so it never carries an error text, a host
name or a URL that may hold a password. Why a check failed goes to the log, as the
exception's type name only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine

from connections_app.core.db import get_engine, read_scope
from connections_app.core.migrations import ensure_current
from connections_app.core.settings import Settings, get_settings
from connections_app.core.vault import get_vault

log = logging.getLogger(__name__)
REDIS_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, bool]

    @property
    def ready(self) -> bool:
        return all(self.checks.values())


def _failed(check: str, err: BaseException) -> bool:
    log.warning("readiness: %s check failed (%s)", check, type(err).__name__)
    return False


def _database(engine: Engine) -> bool:
    try:
        with read_scope(engine) as db:
            db.execute(text("select 1"))
    except Exception as err:  # any failure means "not ready", never a 500
        return _failed("database", err)
    return True


def _migrations(engine: Engine) -> bool:
    try:
        ensure_current(engine)
    except Exception as err:
        return _failed("migrations", err)
    return True


def _vault(engine: Engine) -> bool:
    """The master key still opens this database's check value (a database restored from
    another installation, or a key file swapped, shows up here, not at the next decrypt)."""
    try:
        vault = get_vault()
        with read_scope(engine) as db:
            vault.verify(db)
    except Exception as err:
        return _failed("vault", err)
    return True


def _redis(url: str) -> bool:
    try:
        import redis

        client = redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S
        )
        try:
            client.ping()
        finally:
            client.close()
    except Exception as err:
        return _failed("redis", err)
    return True


def readiness(engine: Engine | None = None, settings: Settings | None = None) -> Readiness:
    """Database reachable, schema at the newest migration, vault opens, Redis answers
    (only when configured). Blocking: callers on an event loop run it in a thread.

    With the database down, the checks that need it are reported false without being
    tried, so one unreachable server costs one connection attempt, not three."""
    engine = engine or get_engine()
    settings = settings or get_settings()
    checks: dict[str, bool] = {"database": _database(engine)}
    checks["migrations"] = checks["database"] and _migrations(engine)
    checks["vault"] = checks["migrations"] and _vault(engine)
    if settings.redis_url:
        checks["redis"] = _redis(settings.redis_url)
    return Readiness(checks)
