"""Deleting an account with crypto-shredding (F7, "same for an account"): every data key
of the account (its own and each workspace's) is destroyed first and committed, then every
row; the audit chain keeps one event that it happened; other accounts are untouched;
anyone but the account's own admins is refused or told "not found", and nothing changes."""

from __future__ import annotations

import contextlib
import io
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
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
from connections_app.core.connections.models import ConnectionSecret
from connections_app.core.errors import Forbidden, Invalid, NotFound
from connections_app.core.identity import account_deletion as deletion
from connections_app.core.identity import service as identity
from connections_app.core.identity.models import Account, User, Workspace
from connections_app.core.tenancy.actor import Actor, Role
from connections_app.core.vault import DataKey, DecryptionFailed, LocalMasterKey, Vault
from connections_app.core.workflows import runs
from tests.conftest import PASSWORD, World
from tests.integration.cli_env import use_database
from tests.integration.dbdump import dump
from tests.integration.helpers import account_key, make_stripe, workflow_with_node
from tests.integration.test_workspace_deletion import _open

SECRET = "sk_test_ShredTheAccount0123456789"
ACCOUNT_SECRET = "sk-ShredTheAccountKey0123456789"
_n = itertools.count()


@dataclass
class Doomed:
    """A throwaway account to delete, and who is who in it."""

    id: str
    name: str
    slug: str
    workspace_ids: list[str]
    tenants: list[str]  # the account and its workspaces: whose keys go
    admin: Actor
    people: dict[Role, Actor]


def _doomed(engine: Engine, vault: Vault) -> Doomed:
    """A throwaway account: two workspaces with connections, a workflow with a run, an
    account connection granted to a workspace, a member of each role."""
    n = next(_n)
    suffix = os.urandom(3).hex()
    with Session(engine, expire_on_commit=False) as db:
        acct = identity.create_account(
            db, vault=vault, name=f"Doomed Agency {n}", slug=f"doomed-{suffix}", by="test"
        )
        spaces = [
            identity.create_workspace(
                db, vault=vault, account_id=acct.id, name=f"WS {i}", slug=f"ws-{i}", by="test"
            )
            for i in (1, 2)
        ]
        user = identity.create_user(
            db, email=f"doomed-admin-{suffix}@example.test", name="Admin", password=PASSWORD
        )
        identity.make_account_admin(db, account_id=acct.id, user_id=user.id, by="test")
        admin = Actor(user.id, user.email, acct.id, spaces[0].id, Role.ADMIN, True)
        people: dict[Role, Actor] = {}
        for role in Role:
            person = identity.create_user(
                db, email=f"{role}-{suffix}@example.test", name=str(role), password=PASSWORD
            )
            identity.add_member(
                db, workspace_id=spaces[0].id, user_id=person.id, role=role, by="test"
            )
            people[role] = Actor(person.id, person.email, acct.id, spaces[0].id, role)
        for ws in spaces:
            here = Actor(user.id, user.email, acct.id, ws.id, Role.ADMIN, True)
            conn = make_stripe(db, here, key=SECRET)
            wf, _node = workflow_with_node(db, here, f"Flow {n}", conn.id, {"email": "a@b.test"})
            runs.start(db, actor=here, workflow_id=wf.id, mode="test")
        shared = account_key(db, admin, f"Shared {n}", key=ACCOUNT_SECRET)
        grants.grant(db, actor=admin, connection_id=shared, workspace_id=spaces[1].id)
        ids = [w.id for w in spaces]
        return Doomed(acct.id, acct.name, acct.slug, ids, [acct.id, *ids], admin, people)


def _others(engine: Engine, doomed: Doomed) -> dict[str, list[str]]:
    """Every row of every table that does not mention the doomed account or its workspaces
    (its audit events are checked on their own; sessions move)."""
    meta = MetaData()
    meta.reflect(bind=engine)
    found: dict[str, list[str]] = {}
    mine = set(doomed.tenants)
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            if table.name in {"audit_heads", "user_sessions", "alembic_version"}:
                continue
            rows = [tuple(r) for r in conn.execute(select(table))]
            if table.name == "audit_events":
                rows = [r for r in rows if r[1] != doomed.id]
            kept = []
            for r in rows:
                if mine & {v for v in r if isinstance(v, str)}:
                    mine.add(r[0])  # its children (run steps of its runs) are its too
                else:
                    kept.append(repr(r))
            found[table.name] = sorted(kept)
    return found


def _secrets(engine: Engine, doomed: Doomed) -> list[ConnectionSecret]:
    with Session(engine, expire_on_commit=False) as db:
        stmt = sql_select(ConnectionSecret).where(
            ConnectionSecret.tenant_id.in_(doomed.tenants)  # type: ignore[attr-defined]
        )
        return list(db.exec(stmt).all())


def _keys(engine: Engine, doomed: Doomed) -> list[tuple[Any, ...]]:
    with Session(engine) as db:
        stmt = sql_select(DataKey).where(DataKey.tenant_id.in_(doomed.tenants))  # type: ignore[attr-defined]
        return sorted((k.tenant_id, k.version, k.state, k.wrapped_key) for k in db.exec(stmt))


def test_summary_lists_what_goes(engine: Engine, vault: Vault) -> None:
    doomed = _doomed(engine, vault)
    with Session(engine) as db:
        summary = deletion.deletion_summary(db, doomed.admin, doomed.id)
    assert summary.name == doomed.name
    assert summary.workspace_names == ("WS 1", "WS 2")
    assert summary.in_workspaces.connections == 2 and summary.in_workspaces.runs == 2
    assert summary.held.account_connections == 1 and summary.held.admins == 1
    assert "2 workspaces (“WS 1”, “WS 2”)" in summary.lines
    assert "1 account connection with its credentials" in summary.lines


def test_deletion_shreds_every_key_then_the_rows_and_keeps_the_record(
    engine: Engine, vault: Vault, world: World, master_key_bytes: bytes
) -> None:
    doomed = _doomed(engine, vault)
    saved = _secrets(engine, doomed)
    assert len(saved) == 3  # two workspace connections and the account's
    with Session(engine) as db:
        assert {_open(db, vault, row) for row in saved} == {SECRET, ACCOUNT_SECRET}
    others_before = _others(engine, doomed)
    with Session(engine) as db:
        deletion.delete_account(db, doomed.admin, doomed.id, doomed.name, vault=vault)

    # No ciphertext opens, in this process or in a fresh one with the same master key.
    vaults = (vault, Vault(LocalMasterKey(master_key_bytes)))
    with Session(engine) as db:
        for row, v in itertools.product(saved, vaults):
            with pytest.raises(DecryptionFailed, match=r"destroyed|No data key"):
                _open(db, v, row)
        assert db.get(Account, doomed.id) is None
        for ws in doomed.workspace_ids:
            assert db.get(Workspace, ws) is None
        # People keep their sign-in (they may belong elsewhere); their access went.
        assert db.get(User, doomed.admin.user_id) is not None
        assert audit.verify(db, account_id=doomed.id).ok
        assert audit.verify(db, account_id=world.account_id).ok
        event = db.exec(
            sql_select(AuditEvent).where(
                AuditEvent.account_id == doomed.id, AuditEvent.action == "account_deleted"
            )
        ).one()
        assert event.detail["name"] == doomed.name and event.detail["workspace_connections"] == 2
        assert event.actor_label == doomed.admin.label
    assert not _secrets(engine, doomed)
    keys = _keys(engine, doomed)
    assert {k[0] for k in keys} == set(doomed.tenants)
    assert all(k[2] == "destroyed" and k[3] is None for k in keys)
    # Nothing of any other account changed, and the secret is nowhere in the database.
    assert _others(engine, doomed) == others_before
    assert SECRET not in dump(engine) and ACCOUNT_SECRET not in dump(engine)


def _power_cut(*_args: Any, **_kwargs: Any) -> None:
    raise RuntimeError("power cut")


def test_a_crash_after_the_keys_then_a_rerun_completes(
    engine: Engine, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    doomed = _doomed(engine, vault)
    saved = _secrets(engine, doomed)
    # The power goes after step 1 (keys destroyed and committed), before the rows.
    monkeypatch.setattr(deletion, "remove_rows", _power_cut)
    with Session(engine) as db, pytest.raises(RuntimeError, match="power cut"):
        deletion.delete_account(db, doomed.admin, doomed.id, doomed.name, vault=vault)
    opened = 0
    with Session(engine) as db:
        assert db.get(Account, doomed.id) is not None  # the rows are still there
        for row in saved:
            with contextlib.suppress(DecryptionFailed):
                _open(db, vault, row)
                opened += 1
    assert opened == 0, "every ciphertext is noise from step 1 on"
    monkeypatch.undo()
    with Session(engine) as db:
        deletion.delete_account(db, doomed.admin, doomed.id, doomed.name, vault=vault)
    with Session(engine) as db:
        assert db.get(Account, doomed.id) is None
        assert audit.verify(db, account_id=doomed.id).ok
        with pytest.raises(NotFound):
            deletion.delete_account(db, doomed.admin, doomed.id, doomed.name, vault=vault)


def _refused_and_unchanged(
    engine: Engine, doomed: Doomed, attempt: Callable[[Session], Any], error: type
) -> None:
    before = (_others(engine, doomed), _keys(engine, doomed), len(_secrets(engine, doomed)))
    with Session(engine) as db, pytest.raises(error):
        attempt(db)
    after = (_others(engine, doomed), _keys(engine, doomed), len(_secrets(engine, doomed)))
    assert after == before
    with Session(engine) as db:
        assert db.get(Account, doomed.id) is not None
        actions = db.exec(
            sql_select(AuditEvent.action).where(AuditEvent.account_id == doomed.id)
        ).all()
        assert "account_deleted" not in actions


@pytest.mark.parametrize("role", list(Role))
def test_members_of_its_workspaces_are_refused(engine: Engine, vault: Vault, role: Role) -> None:
    doomed = _doomed(engine, vault)
    actor = doomed.people[role]
    for call in (
        lambda db: deletion.delete_account(db, actor, doomed.id, doomed.name, vault=vault),
        lambda db: deletion.deletion_summary(db, actor, doomed.id),
    ):
        _refused_and_unchanged(engine, doomed, call, Forbidden)


def test_other_accounts_wrong_names_and_hostile_ids_change_nothing(
    engine: Engine, vault: Vault, world: World
) -> None:
    doomed = _doomed(engine, vault)
    foreign = world.actors["foreign_admin"]
    foreign_admin = Actor(foreign.user_id, foreign.label, world.other_account_id, None, None, True)
    admin, name = doomed.admin, doomed.name

    # Who tries, on which account id, typing what; and what they are told.
    hostile: list[tuple[Actor, Any, Any, type]] = [
        (foreign_admin, doomed.id, name, NotFound),
        (admin, world.other_account_id, "Other", NotFound),
        (admin, doomed.id, name.lower(), Invalid),
        (admin, doomed.id, name + " ", Invalid),
        (admin, doomed.id, None, Invalid),
        (admin, doomed.id, ["x"], Invalid),
        (admin, {"id": 1}, name, NotFound),
        (admin, "x" * 10_000, name, NotFound),
        (admin, "' OR 1=1 --", name, NotFound),
    ]
    for who, target, typed, error in hostile:
        _refused_and_unchanged(
            engine,
            doomed,
            partial(
                deletion.delete_account,
                actor=who,
                account_id=target,
                confirm_name=typed,
                vault=vault,
            ),
            error,
        )
    summary = partial(deletion.deletion_summary, actor=foreign_admin, account_id=doomed.id)
    _refused_and_unchanged(engine, doomed, summary, NotFound)


def test_cli_deletes_with_the_typed_name_and_refuses_a_wrong_one(
    engine: Engine, vault: Vault, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    doomed = _doomed(engine, vault)
    use_database(monkeypatch, db_url)
    args = ["account", "delete", "--account", doomed.slug]
    out = io.StringIO()
    assert cli.main(args, out=out, stdin=io.StringIO("not the name\n")) == 2
    assert "Deleting account" in out.getvalue() and "2 workspaces" in out.getvalue()
    with Session(engine) as db:
        assert db.get(Account, doomed.id) is not None
    assert all(k[2] == "active" for k in _keys(engine, doomed))
    # The name typed on stdin (as a person at the prompt would) deletes it.
    typed, printed = io.StringIO(doomed.name + "\n"), io.StringIO()
    assert cli.main(args, out=printed, stdin=typed) == 0, printed.getvalue()
    assert f"deleted account {doomed.slug}" in printed.getvalue()
    assert all(k[2] == "destroyed" for k in _keys(engine, doomed))
    with Session(engine) as db:
        assert db.get(Account, doomed.id) is None and audit.verify(db, account_id=doomed.id).ok
    # A second run: the account is not found (exit 2), nothing else happens.
    assert cli.main([*args, "--confirm-name", doomed.name], out=io.StringIO()) == 2
