"""Refusals: every "no" a person gets leaves an `access_denied` event (F11).

Services decide what is allowed through `tenancy`; this module is how they say no.
`authorize` checks an operation on a connection, `refuse` turns any refusal into
the `Forbidden` to raise after recording it, and `record_refusal` covers the
places that refuse before reaching a service (a dialog that will not open).

A browser can send thousands of refused calls a minute, so recording is
rate-limited per person (and per process overall): past the limit events are
counted, not written, and the next event that is written says how many were not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlmodel import Session

from connections_app.core import audit
from connections_app.core.audit import Action
from connections_app.core.connections.models import Connection
from connections_app.core.db import is_read_only, session_scope
from connections_app.core.errors import Forbidden
from connections_app.core.tenancy import policy
from connections_app.core.tenancy.actor import Actor
from connections_app.core.tenancy.policy import Op

WINDOW_SECONDS = 60.0
PER_KEY = 20  # events per key per window
OVERALL = 600  # events per process per window, whoever they are about


class RateLimiter:
    """Fixed windows per key; remembers how many events were held back."""

    def __init__(
        self,
        per_key: int = PER_KEY,
        overall: int = OVERALL,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_key, self.overall, self.window, self.clock = per_key, overall, window, clock
        self._lock = threading.Lock()
        self._keys: dict[Any, list[float | int]] = {}  # key -> [window start, count, held]
        self._total: list[float | int] = [0.0, 0]

    def admit(self, key: Any) -> int | None:
        """None: do not record. Otherwise record, mentioning this many held-back events."""
        now = self.clock()
        with self._lock:
            if now - self._total[0] >= self.window:
                self._total = [now, 0]
                # Forget idle keys so a flood of distinct keys cannot grow memory forever.
                self._keys = {
                    k: v for k, v in self._keys.items() if now - v[0] < self.window or v[2]
                }
            entry = self._keys.setdefault(key, [now, 0, 0])
            if now - entry[0] >= self.window:
                entry[0], entry[1] = now, 0
            if entry[1] >= self.per_key or self._total[1] >= self.overall:
                entry[2] += 1
                return None
            entry[1] += 1
            self._total[1] += 1
            held, entry[2] = int(entry[2]), 0
            return held


limiter = RateLimiter()


def _who(actor: Actor) -> str:
    return actor.user_id or actor.label


def record(
    db: Session,
    actor: Actor,
    *,
    what: str,
    connection: Connection | None = None,
    target_type: str = "connection",
    target_id: str | None = None,
    action: Action = Action.ACCESS_DENIED,
    outcome: str = "denied",
    detail: dict[str, Any] | None = None,
    key: Any = None,
) -> bool:
    """Append one event in `db`'s transaction unless the limiter holds it back."""
    held = limiter.admit(key or (_who(actor), actor.workspace_id, str(action)))
    if held is None:
        return False
    facts: dict[str, Any] = {"what": what, **(detail or {})}
    if held:
        facts["suppressed"] = held
    if connection is not None:
        facts = {"label": connection.label, "app": connection.app, **facts}
    else:  # what the audit log shows as the target: words, not an id
        facts = {"label": "this workspace" if target_type == "workspace" else target_type, **facts}
    audit.record(
        db,
        account_id=connection.account_id if connection is not None else actor.account_id,
        workspace_id=actor.workspace_id
        or (connection.workspace_id if connection is not None else None),
        connection_id=connection.id if connection is not None else None,
        action=action,
        target_type=target_type,
        target_id=connection.id if connection is not None else target_id,
        actor_id=actor.user_id,
        actor_label=actor.label,
        outcome=outcome,
        detail=facts,
    )
    return True


def require_create(db: Session, actor: Actor, verb: str, *, what: str, scope: Any = None) -> None:
    """Refuse (recorded) unless the person may create connections in this workspace:
    one check for Add, its pre-save test and OAuth connect. `verb` ends the message."""
    allowed = policy.can_create(actor) if scope is None else policy.can_create(actor, scope=scope)
    if not allowed:
        message = f"Your role does not allow you to {verb} here."
        raise refuse(
            db, actor, message, what=what, target_type="workspace", target_id=actor.workspace_id
        )


def require_build(
    db: Session,
    actor: Actor,
    verb: str,
    *,
    what: str,
    target_type: str = "workflow",
    target_id: str | None = None,
) -> None:
    """Refuse (recorded) unless the person may build (change or run) workflows here."""
    if not policy.can_build(actor):
        message = f"Your role does not allow you to {verb} workflows."
        raise refuse(db, actor, message, what=what, target_type=target_type, target_id=target_id)


def refuse(
    db: Session,
    actor: Actor,
    message: str,
    *,
    what: str,
    connection: Connection | None = None,
    target_type: str = "connection",
    target_id: str | None = None,
) -> Forbidden:
    """Record the refusal (nothing else of the caller's transaction survives) and return
    the Forbidden for the caller to raise. A read-only caller's refusal is written in a
    short transaction of its own."""
    db.rollback()
    with _writable(db) as writer:
        if record(
            writer,
            actor,
            what=what,
            connection=connection,
            target_type=target_type,
            target_id=target_id,
        ):
            writer.commit()
    return Forbidden(message)


@contextmanager
def _writable(db: Session) -> Iterator[Session]:
    if is_read_only(db):
        with session_scope() as writer:
            yield writer
    else:
        yield db


def authorize(db: Session, actor: Actor, op: Op, conn: Connection) -> None:
    """Allow `op` on a connection the actor can see, or record the refusal and raise."""
    if policy.check(actor, op, conn):
        return
    raise refuse(db, actor, policy.refusal_message(op), what=str(op), connection=conn)


def record_refusal(
    actor: Actor, what: str, *, target_type: str = "workspace", target_id: str | None = None
) -> None:
    """For refusals decided before any service call (in its own short transaction)."""
    with session_scope() as db:
        if record(db, actor, what=what, target_type=target_type, target_id=target_id):
            db.commit()
