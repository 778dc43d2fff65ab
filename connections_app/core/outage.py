"""What a database outage looks like to the rest of the app (issue 15 outage drill).

When PostgreSQL stops (or a connection drops), SQLAlchemy raises `OperationalError` /
`InterfaceError` (both `DBAPIError`s flagged as connection problems). Every entry point
turns that into one sentence for people — the service is temporarily unavailable —
instead of a stack trace, and logs one warning line that names the error class only
(the driver's text can echo SQL parameters). Nothing else is needed to recover: a
pooled connection idle for a second is pinged before use (`db._ping_after_idle`), a
dead one is dropped, and the next request reconnects.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger(__name__)

MESSAGE = "The service is temporarily unavailable. Please try again in a moment."
RETRY_AFTER_SECONDS = 5


def is_outage(err: BaseException) -> bool:
    """A lost or refused database connection (not a bad query, which is a bug)."""
    if isinstance(err, OperationalError | InterfaceError):
        return True
    return isinstance(err, DBAPIError) and bool(err.connection_invalidated)


def note(where: str, err: BaseException) -> None:
    """One warning line per failed call: where, and the error's class, nothing else."""
    log.warning("database unavailable in %s (%s)", where, type(err).__name__)
