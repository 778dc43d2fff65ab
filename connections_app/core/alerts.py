"""Reauthorization alerts (F21): "something in workspace W changed its broken-connection set".

Publishers (the refresher, the callback, revoke) call `publish(workspace_id)`
after their commit; the message carries no data, only the workspace id, and
subscribers re-read the list through tenancy for whoever is looking. In one
process subscribers are plain callbacks; with `REFLEX_REDIS_URL` set the
message also goes over Redis pub/sub so every backend worker hears it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

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
