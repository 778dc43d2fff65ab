"""Client invitations (F24) on a real database: who may invite, list and revoke; the
link's single use, expiry, revocation and forgery; what is stored; what is audited."""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core import alerts
from connections_app.core.audit import AuditEvent
from connections_app.core.errors import Conflict, Forbidden, Invalid, NotFound
from connections_app.core.identity import invitations
from connections_app.core.identity import service as identity
from connections_app.core.identity.invitation_models import ClientInvitation
from connections_app.core.identity.models import ClientUser, User, UserSession
from connections_app.core.tenancy import clients
from tests.conftest import PASSWORD, World
from tests.integration.dbdump import dump, leaks

NEW_PASSWORD = "a-fresh-portal-password"
_n = iter(range(1, 1_000_000))


def fresh_email() -> str:
    return f"invitee-{next(_n)}-{os.urandom(2).hex()}@client.test"


def invite(db: Session, world: World, email: str | None = None, actor: str = "admin1"):
    return invitations.invite(db, world.actors[actor], email or fresh_email(), "Ina Vitee")


def accept_new(db: Session, token: str, **kw: object) -> invitations.Accepted:
    args = {"name": "Ina Vitee", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD, **kw}
    return invitations.accept(db, token, **args)  # type: ignore[arg-type]


def test_an_admin_invites_and_the_person_accepts_into_the_portal(
    db: Session, engine: Engine, world: World
) -> None:
    email = fresh_email()
    made = invitations.invite(db, world.actors["admin1"], email.upper(), "  Ina Vitee ")
    assert made.invitation.email == email and made.invitation.name == "Ina Vitee"
    assert made.invitation.state == "pending" and made.invitation.may_revoke
    assert len(made.token) >= 43
    expires = made.invitation.expires_at - made.invitation.created_at
    assert expires == timedelta(hours=72)
    stored = dump(engine)
    assert leaks(stored, made.token) == []  # only the hash is stored
    assert hashlib.sha256(made.token.encode()).hexdigest() in stored

    shown = invitations.preview(db, made.token)
    assert (shown.agency, shown.workspace, shown.email) == ("Agency", "Client One", email)
    assert shown.has_account is False

    done = accept_new(db, made.token)
    db.rollback()
    user = db.exec(select(User).where(User.email == email)).one()
    assert user.name == "Ina Vitee" and user.password_hash.startswith("$argon2")
    assert done.user_id == user.id and done.workspace_id == world.ws1
    row = db.get(ClientUser, (world.ws1, user.id))
    assert row is not None and row.invited_by == world.user_ids["admin1"]
    me = identity.session_view(db, done.session_token)
    assert me.actor is not None and me.actor.is_client and me.actor.workspace_id == world.ws1
    assert identity.start_page(me.actor) == identity.PORTAL_PAGE

    listed = {v.id: v for v in invitations.list_invitations(db, world.actors["admin1"])}
    assert listed[made.invitation.id].state == "used"
    assert listed[made.invitation.id].invited_by == world.actors["admin1"].label
    actions = db.exec(
        select(AuditEvent.action).where(AuditEvent.target_id == made.invitation.id)
    ).all()
    assert sorted(actions) == ["invitation_accepted", "invitation_created"]
    db.rollback()
    assert leaks(dump(engine), made.token) == []
    assert leaks(dump(engine), NEW_PASSWORD) == []


def test_a_used_expired_revoked_or_forged_link_gets_one_answer_and_changes_nothing(
    db: Session, engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    used = invite(db, world)
    accept_new(db, used.token)
    revoked = invite(db, world)
    invitations.revoke(db, world.actors["admin1"], revoked.invitation.id)
    expired = invite(db, world)
    later = expired.invitation.expires_at + timedelta(seconds=1)
    monkeypatch.setattr(invitations, "utcnow", lambda: later)
    forged = "A" * 43
    db.rollback()
    before = dump(engine)
    for token in (used.token, revoked.token, expired.token, forged, "", "x", "../../etc", 7, None):
        with pytest.raises(NotFound) as err:
            invitations.preview(db, token)
        assert str(err.value) == invitations.INVALID_LINK
        with pytest.raises(NotFound) as err:
            accept_new(db, token)
        assert str(err.value) == invitations.INVALID_LINK
        db.rollback()
    assert dump(engine) == before
    listed = {v.id: v.state for v in invitations.list_invitations(db, world.actors["admin1"])}
    assert listed[expired.invitation.id] == "expired"
    assert listed[revoked.invitation.id] == "revoked"


def test_bad_input_at_accept_is_a_clear_message_and_writes_nothing(
    db: Session, engine: Engine, world: World
) -> None:
    made = invite(db, world)
    db.rollback()
    before = dump(engine)
    cases = [
        ({"password": "short", "confirm": "short"}, "password"),
        ({"confirm": "not-the-same-password"}, "confirm"),
        ({"name": ""}, "name"),
        ({"name": "bad\x00name"}, "name"),
        ({"password": ["list"], "confirm": ["list"]}, "password"),
        ({"password": "x" * 300, "confirm": "x" * 300}, "password"),
    ]
    for kw, field in cases:
        with pytest.raises(Invalid) as err:
            accept_new(db, made.token, **kw)
        assert err.value.field == field, kw
        db.rollback()
    assert dump(engine) == before
    assert invitations.preview(db, made.token).email == made.invitation.email  # still usable


def test_an_existing_account_joins_with_its_own_password_only(
    db: Session, engine: Engine, world: World
) -> None:
    email = fresh_email()
    identity.create_user(db, email=email, name="Has Account", password=PASSWORD)
    made = invite(db, world, email)
    assert invitations.preview(db, made.token).has_account is True
    for wrong in (None, "", "not-the-password", NEW_PASSWORD):
        with pytest.raises(Invalid) as err:
            invitations.accept(db, made.token, current_password=wrong, client="198.51.100.7")
        assert err.value.field == "current_password"
        db.rollback()
    user = db.exec(select(User).where(User.email == email)).one()
    assert clients.is_client_of(db, workspace_id=world.ws1, user_id=user.id) is False
    # The name and password fields are ignored: the account keeps its own.
    done = invitations.accept(
        db, made.token, name="Other", password=NEW_PASSWORD, current_password=PASSWORD
    )
    db.rollback()
    same = db.get(User, user.id)
    assert same is not None and same.name == "Has Account"
    assert identity.authenticate(db, email=email, password=PASSWORD, client="c").id == user.id
    assert clients.is_client_of(db, workspace_id=world.ws1, user_id=user.id)
    assert identity.session_view(db, done.session_token).actor.workspace_id == world.ws1  # type: ignore[union-attr]


def test_members_and_clients_are_not_invited_and_a_second_invitation_replaces_the_first(
    db: Session, world: World
) -> None:
    admin = world.actors["admin1"]
    for name in ("builder1", "viewer1", "admin1", "acct_admin", "client1"):
        with pytest.raises(Conflict) as err:
            invitations.invite(db, admin, world.actors[name].label)
        assert "already" in str(err.value) and err.value.field == "email"
        db.rollback()
    # A member of another workspace may be a client here.
    invitations.invite(db, admin, world.actors["builder2"].label)
    for bad in ("", "not-an-email", None, 42, "a@b", "x" * 300 + "@a.test"):
        with pytest.raises(Invalid):
            invitations.invite(db, admin, bad)
        db.rollback()
    with pytest.raises(Invalid):
        invitations.invite(db, admin, fresh_email(), "bad\nname")
    db.rollback()
    email = fresh_email()
    first = invitations.invite(db, admin, email)
    second = invitations.invite(db, admin, email)
    with pytest.raises(NotFound):
        invitations.preview(db, first.token)
    assert invitations.preview(db, second.token).email == email
    states = {v.id: v.state for v in invitations.list_invitations(db, admin)}
    assert states[first.invitation.id] == "revoked" and states[second.invitation.id] == "pending"


def test_nobody_but_this_workspaces_admins_lists_invites_or_revokes(
    db: Session, engine: Engine, world: World
) -> None:
    made = invite(db, world)
    theirs = invite(db, world, actor="admin2")  # another workspace of the same account
    outsiders = ("builder1", "viewer1", "client1", "admin2", "builder2", "foreign_admin")
    for name in outsiders:
        actor = world.actors[name]
        db.rollback()
        before = dump(engine)
        if name not in ("admin2", "foreign_admin"):
            with pytest.raises(Forbidden):
                invitations.list_invitations(db, actor)
            with pytest.raises(Forbidden):
                invitations.invite(db, actor, fresh_email())
            with pytest.raises(Forbidden):
                invitations.revoke(db, actor, made.invitation.id)
        else:
            assert made.invitation.id not in {v.id for v in invitations.list_invitations(db, actor)}
            with pytest.raises(NotFound):
                invitations.revoke(db, actor, made.invitation.id)
        db.rollback()
        after = dump(engine)
        # Only refusals were recorded (access_denied events), nothing else changed.
        assert after.count("invitation_revoked") == before.count("invitation_revoked"), name
        assert after.count("client_invitations") == before.count("client_invitations")
    for bad in (theirs.invitation.id, "", None, {"id": 1}, "x" * 100, "nope"):
        with pytest.raises(NotFound):
            invitations.revoke(db, world.actors["admin1"], bad)
        db.rollback()
    assert invitations.preview(db, made.token) and invitations.preview(db, theirs.token)
    refusals = db.exec(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.action == "access_denied", AuditEvent.actor_id == world.user_ids["viewer1"]
        )
    ).one()
    assert refusals >= 2  # invite and revoke by a viewer were refused on the record
    # The account admin acting in ws1 may revoke it.
    assert invitations.revoke(db, world.actors["acct_admin"], made.invitation.id).state == "revoked"
    with pytest.raises(Conflict):
        invitations.revoke(db, world.actors["admin1"], made.invitation.id)


def test_a_used_or_expired_invitation_cannot_be_revoked(
    db: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    used = invite(db, world)
    accept_new(db, used.token)
    with pytest.raises(Conflict) as err:
        invitations.revoke(db, world.actors["admin1"], used.invitation.id)
    assert "accepted" in str(err.value)
    old = invite(db, world)
    later = old.invitation.expires_at + timedelta(minutes=1)
    monkeypatch.setattr(invitations, "utcnow", lambda: later)
    with pytest.raises(Conflict) as err:
        invitations.revoke(db, world.actors["admin1"], old.invitation.id)
    assert "expired" in str(err.value)


def test_two_accepts_at_once_make_one_client(engine: Engine, world: World) -> None:
    with Session(engine, expire_on_commit=False) as db:
        made = invite(db, world)
    results: list[object] = []

    def go() -> None:
        with Session(engine, expire_on_commit=False) as db:
            try:
                results.append(accept_new(db, made.token))
            except (NotFound, Conflict) as err:
                results.append(err)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [r for r in results if isinstance(r, invitations.Accepted)]
    assert len(wins) == 1, results
    with Session(engine) as db:
        users = db.exec(select(User).where(User.email == made.invitation.email)).all()
        assert len(users) == 1
        sessions = db.exec(select(UserSession).where(UserSession.user_id == users[0].id)).all()
        assert len(sessions) == 1


def test_every_change_signals_the_workspace(db: Session, world: World) -> None:
    seen: list[str] = []
    unsubscribe = alerts.subscribe(seen.append)
    try:
        made = invite(db, world)
        invitations.revoke(db, world.actors["admin1"], made.invitation.id)
        accept_new(db, invite(db, world).token)
    finally:
        unsubscribe()
    assert seen.count(world.ws1) >= 3


def test_the_row_knows_its_state_from_its_timestamps() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    row = ClientInvitation(
        account_id="a", workspace_id="w", email="e@x.test", token_hash="h", expires_at=now
    )
    assert invitations.state_of(row, now - timedelta(seconds=1)) == "pending"
    assert invitations.state_of(row, now) == "expired"
    row.used_at = now
    assert invitations.state_of(row, now - timedelta(seconds=1)) == "used"
    row.revoked_at = now
    assert invitations.state_of(row, now - timedelta(seconds=1)) == "revoked"
