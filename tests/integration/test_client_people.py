"""Who sees which client people (F24): admins their workspace's, a client itself."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from connections_app.core.errors import NotFound
from connections_app.core.tenancy import clients
from tests.conftest import World


def test_admins_see_their_clients_a_client_itself_and_nobody_else_anyone(
    db: Session, world: World
) -> None:
    client = world.user_ids["client1"]
    seen = {
        name: [p.user_id for p in clients.client_people(db, world.actors[name])]
        for name in world.actors
    }
    assert seen["admin1"] == [client]
    assert seen["acct_admin"] == [client]
    assert seen["client1"] == [client]
    for name in ("builder1", "viewer1", "admin2", "builder2", "foreign_admin"):
        assert seen[name] == [], name
    assert clients.get_client(db, world.actors["admin1"], client).email.startswith("client1-")
    for name in ("admin2", "foreign_admin", "builder1"):
        with pytest.raises(NotFound):
            clients.get_client(db, world.actors[name], client)
    with pytest.raises(NotFound):
        clients.get_client(db, world.actors["admin1"], world.user_ids["builder1"])
    with pytest.raises(NotFound):
        clients.get_client(db, world.actors["admin1"], {"not": "an id"})
