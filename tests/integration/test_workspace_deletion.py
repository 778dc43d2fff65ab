"""Deleting a workspace with crypto-shredding (F7): keys first (committed), then rows, then
one account event; a crash between the two resumes; everyone but the account's admins
is refused or told "not found", and nothing changes for them or for other workspaces."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine
from sqlmodel import Session
from sqlmodel import select as sql_select

from connections_app import cli
from connections_app.core import audit
from connections_app.core.audit import AuditEvent
from connections_app.core.connections import grants
from connections_app.core.connections.models import Connection, ConnectionSecret
from connections_app.core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from connections_app.core.identity import service as identity
from connections_app.core.identity import workspace_deletion as deletion
from connections_app.core.identity.models import Account, User, UserSession, Workspace
from connections_app.core.tenancy.actor import Actor, Role
from connections_app.core.vault import (
    DataKey,
    DecryptionFailed,
    LocalMasterKey,
    Sealed,
    SealedPlace,
    Vault,
)
from connections_app.core.workflows import runs
from tests.conftest import PASSWORD, World
from tests.integration.cli_env import use_database
from tests.integration.dbdump import dump
from tests.integration.helpers import account_key, make_stripe, workflow_with_node

SECRET = "sk_test_ShredMe0123456789abcdef"
_n = iter(range(100_000))


@dataclass
class Doomed:
    id: str
    name: str
    slug: str
    connection_ids: list[str]
    ids: set[str]  # every id whose rows go with it
    people: dict[str, Actor]


def _person(db: Session, world: World, ws_id: str, role: Role) -> Actor:
    email = f"{role}-{next(_n)}-{os.urandom(2).hex()}@example.test"
    user = identity.create_user(db, email=email, name=str(role).title(), password=PASSWORD)
    identity.add_member(db, workspace_id=ws_id, user_id=user.id, role=role, by="test")
    return Actor(user.id, email, world.account_id, ws_id, role)


def _doomed(engine: Engine, vault: Vault, world: World) -> Doomed:
    """A throwaway workspace of the world's account with a bit of everything."""
    n = next(_n)
    with Session(engine, expire_on_commit=False) as db:
        ws = identity.create_workspace(
            db,
            vault=vault,
            account_id=world.account_id,
            name=f"Doomed {n}",
            slug=f"doomed-{n}",
            by="test",
        )
        people = {r: _person(db, world, ws.id, r) for r in Role}
        admin = Actor(
            world.user_ids["acct_admin"],
            world.actors["acct_admin"].label,
            world.account_id,
            ws.id,
            Role.ADMIN,
            True,
        )
        first = make_stripe(db, admin, key=SECRET)
        second = make_stripe(db, admin, key=SECRET + "2", sharing="personal")
        wf, _node = workflow_with_node(db, admin, f"Flow {n}", first.id, {"email": "a@b.test"})
        run_id = runs.start(db, actor=admin, workflow_id=wf.id, mode="test")
        shared = account_key(db, world.actors["acct_admin"], f"Shared {n}")
        grants.grant(db, actor=world.actors["acct_admin"], connection_id=shared, workspace_id=ws.id)
        return Doomed(
            ws.id,
            ws.name,
            ws.slug,
            [first.id, second.id],
            {ws.id, first.id, second.id, wf.id, run_id},
            people,
        )


def _snapshot(engine: Engine, doomed: Doomed) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that is not the doomed workspace's (the audit trail, the
    sessions and the data keys are checked on their own)."""
    meta = MetaData()
    meta.reflect(bind=engine)
    found: dict[str, list[tuple[Any, ...]]] = {}
    skip = {"audit_events", "audit_heads", "user_sessions", "data_keys", "alembic_version"}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            if table.name in skip:
                continue
            rows = [tuple(r) for r in conn.execute(select(table))]
            kept = [r for r in rows if not doomed.ids & {v for v in r if isinstance(v, str)}]
            found[table.name] = sorted(kept, key=repr)
    return found


def _saved_secrets(engine: Engine, doomed: Doomed) -> list[ConnectionSecret]:
    with Session(engine, expire_on_commit=False) as db:
        return list(
            db.exec(
                sql_select(ConnectionSecret).where(
                    ConnectionSecret.connection_id.in_(doomed.connection_ids)  # type: ignore[attr-defined]
                )
            ).all()
        )


def _open(db: Session, vault: Vault, row: ConnectionSecret) -> str:
    place = SealedPlace.connection_secret(row.tenant_id, row.connection_id, row.purpose, row.field)
    return vault.decrypt(
        db, place=place, sealed=Sealed(row.key_version, bytes(row.nonce), bytes(row.ciphertext))
    )


def _events(engine: Engine, account_id: str) -> list[tuple[int, str, str]]:
    with Session(engine) as db:
        rows = db.exec(
            sql_select(AuditEvent)
            .where(AuditEvent.account_id == account_id)
            .order_by(AuditEvent.seq)  # type: ignore[arg-type]
        ).all()
        return [(e.seq, e.action, e.hash) for e in rows]


def _admin(world: World) -> Actor:
    return world.actors["acct_admin"]


def test_summary_lists_what_goes(engine: Engine, vault: Vault, world: World) -> None:
    doomed = _doomed(engine, vault, world)
    with Session(engine) as db:
        summary = deletion.deletion_summary(db, _admin(world), doomed.id)
    assert summary.name == doomed.name
    assert (summary.held.connections, summary.held.workflows, summary.held.runs) == (2, 1, 1)
    assert (summary.held.members, summary.held.clients, summary.held.grants) == (3, 1, 1)
    assert "2 connections and every stored credential" in summary.lines
    assert "1 grant of an account connection to it" in summary.lines


def test_deletion_shreds_keys_removes_rows_and_keeps_the_chain(
    engine: Engine, vault: Vault, world: World, master_key_bytes: bytes
) -> None:
    doomed = _doomed(engine, vault, world)
    saved = _saved_secrets(engine, doomed)
    assert len(saved) == 2
    with Session(engine) as db:
        assert {_open(db, vault, row) for row in saved} == {SECRET, SECRET + "2"}
    others_before = _snapshot(engine, doomed)
    events_before = _events(engine, world.account_id)

    with Session(engine) as db:
        summary = deletion.delete_workspace(db, _admin(world), doomed.id, doomed.name, vault)
    assert summary.held.connections == 2

    # Every saved ciphertext refuses to open: with this vault, and with a fresh one that
    # holds the same master key (another process, or a backup restored later).
    fresh = Vault(LocalMasterKey(master_key_bytes))
    with Session(engine) as db:
        for row in saved:
            for v in (vault, fresh):
                with pytest.raises(DecryptionFailed, match=r"destroyed|No data key"):
                    _open(db, v, row)
        keys = db.exec(sql_select(DataKey).where(DataKey.tenant_id == doomed.id)).all()
        assert keys and all(k.state == "destroyed" and k.wrapped_key is None for k in keys)
        assert db.get(Workspace, doomed.id) is None
        assert not db.exec(sql_select(Connection).where(Connection.workspace_id == doomed.id)).all()
        assert not db.exec(
            sql_select(ConnectionSecret).where(ConnectionSecret.tenant_id == doomed.id)
        ).all()
        assert audit.verify(db, account_id=world.account_id).ok

    # Nothing of any other workspace or account changed.
    assert _snapshot(engine, doomed) == others_before
    # The chain only grew, by the deletion event, which says what happened, not what was held.
    events_after = _events(engine, world.account_id)
    assert events_after[: len(events_before)] == events_before
    assert [e[1] for e in events_after[len(events_before) :]] == ["workspace_deleted"]
    with Session(engine) as db:
        event = db.exec(
            sql_select(AuditEvent).where(
                AuditEvent.action == "workspace_deleted", AuditEvent.target_id == doomed.id
            )
        ).one()
        assert event.workspace_id is None  # the account's log keeps it
        assert event.detail["name"] == doomed.name
        assert event.detail["connections"] == 2
        assert event.actor_label == _admin(world).label
    assert SECRET not in dump(engine)


def test_a_crash_after_the_keys_then_a_rerun_completes(
    engine: Engine, vault: Vault, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    doomed = _doomed(engine, vault, world)
    saved = _saved_secrets(engine, doomed)

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(deletion, "remove_rows", crash)
    with Session(engine) as db, pytest.raises(RuntimeError):
        deletion.delete_workspace(db, _admin(world), doomed.id, doomed.name, vault)
    with Session(engine) as db:
        # The keys are gone for good already; the rows are still there.
        assert db.get(Workspace, doomed.id) is not None
        for row in saved:
            with pytest.raises(DecryptionFailed):
                _open(db, vault, row)
    monkeypatch.undo()

    with Session(engine) as db:
        deletion.delete_workspace(db, _admin(world), doomed.id, doomed.name, vault)
    with Session(engine) as db:
        assert db.get(Workspace, doomed.id) is None
        assert audit.verify(db, account_id=world.account_id).ok
        # Once deleted, a third run finds nothing.
        with pytest.raises(NotFound):
            deletion.delete_workspace(db, _admin(world), doomed.id, doomed.name, vault)


def test_sessions_in_the_workspace_fall_back_or_end(
    engine: Engine, vault: Vault, world: World
) -> None:
    doomed = _doomed(engine, vault, world)
    with Session(engine, expire_on_commit=False) as db:
        builder = doomed.people[Role.BUILDER]
        user = db.get(User, builder.user_id)  # type: ignore[attr-defined]
        assert user is not None
        identity.add_member(
            db, workspace_id=world.ws2, user_id=user.id, role=Role.VIEWER, by="test"
        )
        stays = identity.start_session(db, user=user, ttl_hours=1)
        identity.switch_workspace(db, token=stays, workspace_id=doomed.id)
        viewer = db.get(User, doomed.people[Role.VIEWER].user_id)  # type: ignore[attr-defined]
        assert viewer is not None
        ends = identity.start_session(db, user=viewer, ttl_hours=1)
        assert identity.session_view(db, ends).actor.workspace_id == doomed.id  # type: ignore[union-attr]
        deletion.delete_workspace(db, _admin(world), doomed.id, doomed.name, vault)
    with Session(engine) as db:
        view = identity.session_view(db, stays)
        assert view.actor is not None and view.actor.workspace_id == world.ws2
        assert doomed.id not in {c.workspace_id for c in view.workspaces}
        with pytest.raises(Unauthenticated):  # type: ignore[attr-defined]
            identity.session_view(db, ends)
        assert not db.exec(
            sql_select(UserSession).where(UserSession.workspace_id == doomed.id)
        ).all()


def _refused_and_unchanged(
    engine: Engine, doomed: Doomed, world: World, attempt: Callable[[Session], Any], error: type
) -> None:
    before = (_snapshot(engine, doomed), dump_keys(engine, doomed.id))
    events = [e for e in _events(engine, world.account_id)]
    with Session(engine) as db, pytest.raises(error):
        attempt(db)
    assert (_snapshot(engine, doomed), dump_keys(engine, doomed.id)) == before
    with Session(engine) as db:
        assert db.get(Workspace, doomed.id) is not None
        assert audit.verify(db, account_id=world.account_id).ok
    new = [e[1] for e in _events(engine, world.account_id)[len(events) :]]
    assert set(new) <= {"access_denied"}


def dump_keys(engine: Engine, tenant_id: str) -> list[tuple[Any, ...]]:
    with Session(engine) as db:
        rows = db.exec(sql_select(DataKey).where(DataKey.tenant_id == tenant_id)).all()
        return [(k.version, k.state, k.wrapped_key) for k in rows]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BUILDER, Role.VIEWER, Role.CLIENT])
def test_members_of_the_workspace_are_refused(
    engine: Engine, vault: Vault, world: World, role: Role
) -> None:
    doomed = _doomed(engine, vault, world)
    actor = doomed.people[role]
    for call in (
        lambda db: deletion.delete_workspace(db, actor, doomed.id, doomed.name, vault),
        lambda db: deletion.deletion_summary(db, actor, doomed.id),
    ):
        _refused_and_unchanged(engine, doomed, world, call, Forbidden)


def test_other_accounts_wrong_names_and_hostile_ids_change_nothing(
    engine: Engine, vault: Vault, world: World
) -> None:
    doomed = _doomed(engine, vault, world)
    foreign = world.actors["foreign_admin"]
    foreign_admin = Actor(foreign.user_id, foreign.label, world.other_account_id, None, None, True)
    admin = _admin(world)
    name = doomed.name

    def delete(actor: Actor, ws: Any, typed: Any) -> Callable[[Session], Any]:
        return lambda db: deletion.delete_workspace(db, actor, ws, typed, vault)

    attempts: list[tuple[Callable[[Session], Any], type]] = [
        (delete(foreign_admin, doomed.id, name), NotFound),
        (lambda db: deletion.deletion_summary(db, foreign_admin, doomed.id), NotFound),
        (delete(admin, world.other_ws, "Foreign"), NotFound),
        (delete(admin, doomed.id, name.lower()), Invalid),
        (delete(admin, doomed.id, name + " "), Invalid),
        (delete(admin, doomed.id, None), Invalid),
        (delete(admin, doomed.id, ["x"]), Invalid),
        (delete(admin, {"id": 1}, name), NotFound),
        (delete(admin, "x" * 10_000, name), NotFound),
        (delete(admin, "' OR 1=1 --", name), NotFound),
    ]
    for attempt, error in attempts:
        _refused_and_unchanged(engine, doomed, world, attempt, error)


def test_the_last_workspace_of_an_account_stays(engine: Engine, vault: Vault) -> None:
    with Session(engine, expire_on_commit=False) as db:
        acct = identity.create_account(
            db, vault=vault, name="Solo", slug=f"solo-{os.urandom(3).hex()}", by="test"
        )
        ws = identity.create_workspace(
            db, vault=vault, account_id=acct.id, name="Only", slug="only", by="test"
        )
        operator = Actor.operator(account_id=acct.id, workspace_id=None, label="cli:test")
        with pytest.raises(Conflict, match="only workspace"):
            deletion.delete_workspace(db, operator, ws.id, "Only", vault)
        ws_id = ws.id
        db.rollback()
        assert db.get(Workspace, ws_id) is not None
        db.rollback()
    assert all(k[1] == "active" for k in dump_keys(engine, ws_id))


def test_cli_deletes_with_the_typed_name_and_refuses_a_wrong_one(
    engine: Engine, vault: Vault, world: World, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    doomed = _doomed(engine, vault, world)
    use_database(monkeypatch, db_url)
    with Session(engine) as db:
        account_slug = db.get(Account, world.account_id).slug  # type: ignore[attr-defined,union-attr]
    args = ["workspace", "delete", "--account", account_slug, "--workspace", doomed.slug]
    out = io.StringIO()
    assert cli.main(args, out=out, stdin=io.StringIO("not the name\n")) == 2
    assert "Deleting workspace" in out.getvalue() and "2 connections" in out.getvalue()
    with Session(engine) as db:
        assert db.get(Workspace, doomed.id) is not None
    out = io.StringIO()
    code = cli.main([*args, "--confirm-name", doomed.name], out=out, stdin=io.StringIO(""))
    assert code == 0, out.getvalue()
    assert f"deleted workspace {account_slug}/{doomed.slug}" in out.getvalue()
    with Session(engine) as db:
        assert db.get(Workspace, doomed.id) is None
        assert audit.verify(db, account_id=world.account_id).ok
    assert cli.main([*args, "--confirm-name", doomed.name], out=io.StringIO()) == 2
