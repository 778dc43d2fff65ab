"""The one way a state calls the core: as the signed-in person, in a worker thread.

Every handler used to repeat the same shape — derive the actor, open a session,
call a service, catch `Unauthenticated`, `NotFound`, the other domain errors —
on the event loop, where a slow query held up every tab of the worker. `call_as`
is that shape once: the person comes from the session *reference* the edge guard
put on the websocket (never from an event argument), and what went wrong comes
back as an `Answer` with a message fit to show and, for bad input, the field.
States reach it through `SessionState._as_actor`, which runs it off the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlmodel import Session

from connections_app.core import outage
from connections_app.core.db import read_scope, session_scope
from connections_app.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Unauthenticated,
)
from connections_app.core.identity import service as identity
from connections_app.core.tenancy.actor import Actor

T = TypeVar("T")
Work = Callable[[Session, Actor], T]


@dataclass(frozen=True)
class Answer(Generic[T]):
    """What the core said: a value, or why not (never a secret: services don't echo
    secret values, and only domain errors, whose text is written for people, pass)."""

    value: T | None = None
    me: identity.SessionView | None = None  # the core's answers about the person
    message: str = ""
    field: str = ""  # the form field at fault (Invalid, Conflict), when there is one
    signed_out: bool = False
    unavailable: bool = False  # the database could not be reached (an outage)
    gone: bool = False  # not found, or not visible to this person
    denied: bool = False

    @property
    def ok(self) -> bool:
        return not (self.signed_out or self.message)


def call_as(ref: Any, work: Work[T], *, write: bool = True) -> Answer[T]:
    """Run `work(db, actor)` as the person the session reference names.

    Reads run in a read-only transaction (on SQLite they never wait for a writer)."""
    try:
        with read_scope() as db:
            me = identity.session_view_for_ref(db, ref)
        if me.actor is None:
            return Answer(signed_out=True)
        scope = session_scope if write else read_scope
        with scope() as db:
            return Answer(value=work(db, me.actor), me=me)
    except Unauthenticated:
        return Answer(signed_out=True)
    except NotFound as err:
        return Answer(message=str(err), gone=True)
    except Forbidden as err:
        return Answer(message=str(err), denied=True)
    except (Invalid, Conflict) as err:
        return Answer(message=str(err), field=err.field or "")
    except DomainError as err:
        return Answer(message=str(err))
    except Exception as err:
        if not outage.is_outage(err):
            raise
        outage.note("a screen", err)
        return Answer(message=outage.MESSAGE, unavailable=True)


def myself(db: Session, actor: Actor) -> Actor:
    """The call that only asks who is signed in (the answer's `me` says what they may)."""
    return actor
