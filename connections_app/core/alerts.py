"""Workspace signals: "something in workspace W changed" (the banner, F21, and every
open view of the workspace).

Every mutation writes one audit event in its transaction (invariant 7), so the
audit module is the one place that knows a workspace changed: `changed_in` notes
the workspace on the session, and when that transaction commits the workspace is
published once (a rollback forgets it). The message carries no data, only the
workspace id; subscribers re-read through tenancy for whoever is looking. In one
process subscribers are plain callbacks; with `REFLEX_REDIS_URL` set the message
goes over Redis pub/sub so every backend worker (and the CLI's changes) reach all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
CHANNEL = "connections:alerts"
Subscriber = Callable[[str], None]

_subscribers: list[Subscriber] = []
_lock = threading.Lock()


def subscribe(callback: Subscriber) -> Callable[[], None]:
    """Register a callback; returns the function that unregisters it."""
    with _lock:
        _subscribers.append(callback)

    def unsubscribe() -> None:
        with _lock:
            if callback in _subscribers:
                _subscribers.remove(callback)

    return unsubscribe


def deliver(workspace_id: str) -> None:
    """Hand one message to this process's subscribers (also used by the Redis listener)."""
    with _lock:
        targets = list(_subscribers)
    for callback in targets:
        try:
            callback(workspace_id)
        except Exception:  # one broken subscriber must not silence the others
            log.exception("alert subscriber failed")


def publish(workspace_id: str) -> None:
    redis_url = _redis_url()
    if redis_url:
        try:
            import redis

            redis.Redis.from_url(redis_url).publish(CHANNEL, workspace_id)
            return  # every worker, this one included, hears it through its listener
        except Exception as err:
            log.warning(
                "alert publish over Redis failed (%s); delivering locally", type(err).__name__
            )
    deliver(workspace_id)


def _redis_url() -> str | None:
    from connections_app.core.settings import get_settings

    return get_settings().redis_url


_PENDING = "connections_changed_workspaces"
# Account-level screens (account connections, grants, LLM Keys) listen on their own
# signal: the message is this prefix and the account id (ids never contain a colon).
ACCOUNT_PREFIX = "account:"


def changed_in(db: Session, workspace_id: str | None) -> None:
    """Publish `workspace_id` when `db`'s transaction commits (once per transaction)."""
    if workspace_id:
        db.info.setdefault(_PENDING, set()).add(workspace_id)


def changed_in_account(db: Session, account_id: str | None) -> None:
    """Publish the account's own signal when `db`'s transaction commits."""
    if account_id:
        changed_in(db, ACCOUNT_PREFIX + account_id)


def account_of(message: str) -> str | None:
    """The account id of an account signal, None for a workspace signal."""
    return message[len(ACCOUNT_PREFIX) :] if message.startswith(ACCOUNT_PREFIX) else None


@event.listens_for(Session, "after_commit")
def _publish_committed(session: Any) -> None:
    for workspace_id in sorted(session.info.pop(_PENDING, set())):
        try:
            publish(workspace_id)
        except Exception as err:  # a signal lost must never undo a committed change
            log.warning("workspace signal failed: %s", type(err).__name__)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Any, _previous: Any) -> None:
    session.info.pop(_PENDING, None)
