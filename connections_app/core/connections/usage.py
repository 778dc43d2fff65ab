"""Who references a connection. Domains that store references register a finder here,
so that deleting a connection can list what will break (F19) without this package
importing them."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from connections_app.core.connections.views import Usage
from connections_app.core.tenancy import Actor

UsageFinder = Callable[[Session, Actor, str], list[Usage]]
_finders: list[UsageFinder] = []


def register(finder: UsageFinder) -> None:
    if finder not in _finders:
        _finders.append(finder)


def find(db: Session, actor: Actor, connection_id: str) -> list[Usage]:
    found: list[Usage] = []
    for finder in _finders:
        found.extend(finder(db, actor, connection_id))
    return found
