"""Invariant 1 and F10: roles × two workspaces × every service operation.

The expectations are written out by hand (not computed from the role table), so
a change to `tenancy` that widens access fails here.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from connections_app.core import egress
from connections_app.core.connections import runtime, service
from connections_app.core.connections.models import Connection
from connections_app.core.errors import Forbidden, NotFound
from connections_app.core.tenancy.actor import Actor
from tests.conftest import World
from tests.integration.helpers import make_stripe
from tests.standin_fixtures import StandIn

OK, DENY, MISSING = "ok", "forbidden", "not_found"
OPS = ["get", "list", "update", "rotate", "test", "use", "usages", "delete"]

# Target "shared": created by admin1 in ws1, sharing=use.
SHARED = {
    "acct_admin": dict.fromkeys(OPS, OK),
    "admin1": dict.fromkeys(OPS, OK),
    "builder1": {**dict.fromkeys(OPS, OK), "update": DENY, "rotate": DENY, "delete": DENY},
    "viewer1": {**dict.fromkeys(OPS, DENY), "get": OK, "list": OK, "usages": OK},
    "client1": dict.fromkeys(OPS, MISSING),
    "admin2": dict.fromkeys(OPS, MISSING),
    "builder2": dict.fromkeys(OPS, MISSING),
    "viewer2": dict.fromkeys(OPS, MISSING),
    "foreign_admin": dict.fromkeys(OPS, MISSING),
}
# Target "personal": created by builder1 in ws1, sharing=personal.
PERSONAL = {
    "acct_admin": {**dict.fromkeys(OPS, OK), "use": DENY},
    "admin1": {**dict.fromkeys(OPS, OK), "use": DENY},
    "builder1": dict.fromkeys(OPS, OK),
    "builder1b": dict.fromkeys(OPS, MISSING),
    "viewer1": dict.fromkeys(OPS, MISSING),
    "client1": dict.fromkeys(OPS, MISSING),
    "admin2": dict.fromkeys(OPS, MISSING),
    "foreign_admin": dict.fromkeys(OPS, MISSING),
}

# Target "client_own": created by admin1 in ws1 (sharing=use) and authorized by client1,
# as a connect link makes it (F24). The client may see, list, rotate and use it (in its
# own workflows, F32; and revoke a sign-in: test_portal.py); nothing else. Usages: only
# where it is used, like `get`.
CLIENT_OWN = {
    **SHARED,
    "client1": {
        **dict.fromkeys(OPS, DENY),
        "get": OK,
        "list": OK,
        "rotate": OK,
        "use": OK,
        "usages": OK,
    },
}


def _op(name: str, db: Session, actor: Actor, conn_id: str, standin: StandIn) -> None:
    if name == "get":
        service.get(db, actor=actor, connection_id=conn_id)
    elif name == "list":
        # Searched by its label: the workspace holds hundreds of rows by now (one a call).
        row = db.get(Connection, conn_id)
        assert row is not None
        found = service.list_connections(db, actor=actor, search=row.label, page_size=100)
        ids = {v.id for v in found.items}
        if conn_id not in ids:
            raise NotFound("not listed")
    elif name == "update":
        service.update(db, actor=actor, connection_id=conn_id, sharing="view")
    elif name == "rotate":
        service.rotate(
            db,
            actor=actor,
            connection_id=conn_id,
            secrets={"secret_key": "sk_test_RotatedKey000000000001"},
        )
    elif name == "test":
        service.test(db, actor=actor, connection_id=conn_id)
    elif name == "use":
        with egress.client(timeout=5) as client:
            runtime.send(
                db,
                actor=actor,
                connection_id=conn_id,
                client=client,
                request=httpx.Request("GET", f"{standin.url}/stripe/v1/balance"),
            )
    elif name == "usages":
        service.usages(db, actor=actor, connection_id=conn_id)
    elif name == "delete":
        service.delete(db, actor=actor, connection_id=conn_id)


def _outcome(call: Callable[[], None]) -> str:
    try:
        call()
    except NotFound:
        return MISSING
    except Forbidden:
        return DENY
    return OK


@pytest.mark.parametrize("target", ["shared", "personal", "client_own"])
def test_role_matrix(engine: Engine, world: World, standin: StandIn, target: str) -> None:
    table = {"shared": SHARED, "personal": PERSONAL, "client_own": CLIENT_OWN}[target]
    owner = world.actors["builder1" if target == "personal" else "admin1"]
    sharing = "personal" if target == "personal" else "use"
    mismatches = []
    for who, expected_ops in table.items():
        actor = world.actors[who]
        for op in OPS:
            with Session(engine, expire_on_commit=False) as db:
                conn = make_stripe(db, owner, sharing=sharing)
                if target == "client_own":
                    row = db.get(Connection, conn.id)
                    assert row is not None
                    row.authorized_by = world.user_ids["client1"]
                    db.add(row)
                    db.commit()
                got = _outcome(
                    lambda db=db, actor=actor, op=op, conn=conn: _op(
                        op, db, actor, conn.id, standin
                    )
                )
            if got != expected_ops[op]:
                mismatches.append(f"{who} {op}: expected {expected_ops[op]}, got {got}")
    assert mismatches == []


def test_creation_rights(engine: Engine, world: World) -> None:
    results = {}
    for who in ["acct_admin", "admin1", "builder1", "viewer1", "client1"]:
        with Session(engine) as db:
            results[who] = _outcome(lambda db=db, who=who: make_stripe(db, world.actors[who]))
    assert results == {
        "acct_admin": OK,
        "admin1": OK,
        "builder1": OK,
        "viewer1": DENY,
        "client1": DENY,
    }


def test_a_foreign_id_behaves_exactly_like_a_missing_one(engine: Engine, world: World) -> None:
    with Session(engine) as db:
        theirs = make_stripe(db, world.actors["admin2"])
        messages = set()
        for conn_id in (theirs.id, "0" * 32, "x", "", None, 42, {"id": theirs.id}, "'; --"):
            for call in (service.get, service.usages, service.delete):
                with pytest.raises(NotFound) as err:
                    call(db, actor=world.actors["admin1"], connection_id=conn_id)
                messages.add(str(err.value))
        assert messages == {"Connection not found."}
        assert (
            service.get(db, actor=world.actors["admin2"], connection_id=theirs.id).id == theirs.id
        )


def test_denials_are_audited(engine: Engine, world: World) -> None:
    from sqlmodel import select

    from connections_app.core.audit import AuditEvent

    with Session(engine) as db:
        conn = make_stripe(db, world.actors["admin1"])
        with pytest.raises(Forbidden):
            service.delete(db, actor=world.actors["viewer1"], connection_id=conn.id)
        events = db.exec(select(AuditEvent).where(AuditEvent.connection_id == conn.id)).all()
        denied = [e for e in events if e.action == "access_denied"]
        assert len(denied) == 1
        assert denied[0].actor_id == world.user_ids["viewer1"] and denied[0].outcome == "denied"
        assert service.get(db, actor=world.actors["admin1"], connection_id=conn.id)
