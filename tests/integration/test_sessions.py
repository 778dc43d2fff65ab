"""People, passwords and server-side sessions: the actor comes from the cookie alone."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.clock import utcnow
from connections_app.core.errors import Conflict, Invalid, NotFound, Unauthenticated
from connections_app.core.identity import service as identity
from connections_app.core.identity import throttle
from connections_app.core.identity.models import User, UserSession
from connections_app.core.tenancy.actor import Role
from tests.conftest import PASSWORD, World

CLIENT = "192.0.2.10"


def _email(world: World, name: str) -> str:
    return world.actors[name].label


def test_passwords_are_argon2_hashed_and_never_stored(engine: Engine, world: World) -> None:
    with Session(engine) as db:
        user = db.get(User, world.user_ids["admin1"])
        assert user is not None
        assert user.password_hash.startswith("$argon2")
        assert PASSWORD not in user.password_hash


def test_authenticate_accepts_right_and_refuses_wrong_alike(engine: Engine, world: World) -> None:
    with Session(engine) as db:
        assert (
            identity.authenticate(
                db, email=_email(world, "viewer1").upper(), password=PASSWORD, client=CLIENT
            ).id
            == world.user_ids["viewer1"]
        )
        messages = set()
        for email, password in [
            (_email(world, "viewer1"), "wrong-password-1"),
            ("nobody@example.test", PASSWORD),
            ("not-an-email", PASSWORD),
            (_email(world, "viewer1"), ""),
            (None, None),
            (_email(world, "viewer1"), 123),
        ]:
            with pytest.raises(Invalid) as err:
                identity.authenticate(db, email=email, password=password, client=CLIENT)
            messages.add(str(err.value))
        assert messages == {"Email or password is incorrect."}


def test_repeated_failures_throttle_the_guesser_not_the_owner(engine: Engine) -> None:
    """The 15-minute lock that anyone could trigger is gone: repeated failures make the
    guessing client wait (the right password included: it is not even checked), while
    the owner signs in from elsewhere at once, and the guesser too once the wait is over."""
    now = [utcnow()]

    def clock() -> datetime:
        return now[0]

    guesser, owner = "203.0.113.66", "203.0.113.77"
    with Session(engine) as db:
        user = identity.create_user(db, email="lockme@example.test", name="Lock", password=PASSWORD)
        for _ in range(throttle.CLIENT.free + 1):
            with pytest.raises(Invalid, match="incorrect"):
                identity.authenticate(
                    db, email=user.email, password="wrong-password-x", client=guesser, clock=clock
                )
        with pytest.raises(throttle.TooManyAttempts, match="Too many attempts") as err:
            identity.authenticate(
                db, email=user.email, password=PASSWORD, client=guesser, clock=clock
            )
        assert err.value.retry_after == 1
        assert str(err.value) == "Too many attempts. Try again in 1 second."
        signed_in = identity.authenticate(
            db, email=user.email, password=PASSWORD, client=owner, clock=clock
        )
        assert signed_in.id == user.id
        now[0] += timedelta(seconds=err.value.retry_after)
        again = identity.authenticate(
            db, email=user.email, password=PASSWORD, client=guesser, clock=clock
        )
        assert again.id == user.id


def test_bad_registration_input(engine: Engine) -> None:
    with Session(engine) as db:
        with pytest.raises(Invalid, match="at least"):
            identity.create_user(db, email="short@example.test", name="S", password="short")
        with pytest.raises(Invalid, match="valid email"):
            identity.create_user(db, email="nope", name="S", password=PASSWORD)
        with pytest.raises(Invalid, match="control"):
            identity.create_user(db, email="ctl@example.test", name="A\x00B", password=PASSWORD)
        identity.create_user(db, email="dupe@example.test", name="D", password=PASSWORD)
        with pytest.raises(Conflict):
            identity.create_user(db, email="DUPE@example.test", name="D", password=PASSWORD)


def test_session_stores_only_a_hash_and_derives_the_actor(engine: Engine, world: World) -> None:
    with Session(engine) as db:
        user = db.get(User, world.user_ids["builder1"])
        token = identity.start_session(db, user=user, ttl_hours=1)
        row = db.exec(select(UserSession).where(UserSession.user_id == user.id)).first()
        assert row is not None
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in row.token_hash
        actor = identity.actor_for_token(db, token)
        assert (actor.user_id, actor.workspace_id, actor.role) == (user.id, world.ws1, Role.BUILDER)
        assert not actor.is_account_admin
        identity.end_session(db, token)
        with pytest.raises(Unauthenticated):
            identity.actor_for_token(db, token)


@pytest.mark.parametrize("token", [None, "", "x", "A" * 43, "A" * 5000, 42, ["list"]])
def test_garbage_tokens_are_unauthenticated(engine: Engine, token: object) -> None:
    with Session(engine) as db, pytest.raises(Unauthenticated):
        identity.actor_for_token(db, token)


def test_expired_sessions_are_refused_and_removed(engine: Engine, world: World) -> None:
    with Session(engine) as db:
        user = db.get(User, world.user_ids["viewer1"])
        token = identity.start_session(db, user=user, ttl_hours=1)
        row = db.get(UserSession, hashlib.sha256(token.encode()).hexdigest())
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.add(row)
        db.commit()
        with pytest.raises(Unauthenticated, match="expired"):
            identity.actor_for_token(db, token)
        assert db.get(UserSession, row.token_hash) is None


def test_switching_workspace_needs_membership(engine: Engine, world: World) -> None:
    with Session(engine) as db:
        builder = db.get(User, world.user_ids["builder1"])
        token = identity.start_session(db, user=builder, ttl_hours=1)
        for foreign in (world.ws2, world.other_ws, "nonexistent", None, 7):
            with pytest.raises(NotFound):
                identity.switch_workspace(db, token=token, workspace_id=foreign)
        assert identity.actor_for_token(db, token).workspace_id == world.ws1

        admin = db.get(User, world.user_ids["acct_admin"])
        admin_token = identity.start_session(db, user=admin, ttl_hours=1)
        actor = identity.switch_workspace(db, token=admin_token, workspace_id=world.ws2)
        assert actor.workspace_id == world.ws2 and actor.is_account_admin
        with pytest.raises(NotFound):
            identity.switch_workspace(db, token=admin_token, workspace_id=world.other_ws)


def test_client_users_act_as_clients_of_their_workspace(engine: Engine, world: World) -> None:
    with Session(engine) as db:
        client = db.get(User, world.user_ids["client1"])
        token = identity.start_session(db, user=client, ttl_hours=1)
        actor = identity.actor_for_token(db, token)
        assert actor.role == Role.CLIENT and actor.workspace_id == world.ws1


def test_the_websocket_reference_names_a_session_but_is_not_its_token(
    engine: Engine, world: World
) -> None:
    """The edge guard gives Reflex SHA-256(token) instead of the cookie: it finds the
    session (the row's key), and presented as a token it finds nothing."""
    with Session(engine) as db:
        user = db.get(User, world.user_ids["builder1"])
        token = identity.start_session(db, user=user, ttl_hours=1)
        ref = identity.session_ref(token)
        assert ref == hashlib.sha256(token.encode()).hexdigest()
        assert identity.actor_for_ref(db, ref).user_id == user.id
        assert identity.session_view_for_ref(db, ref).email == user.email
        assert identity.session_user_for_ref(db, ref) == user.id
        with pytest.raises(Unauthenticated):
            identity.actor_for_token(db, ref)  # a reference is no credential
        identity.switch_workspace_for_ref(db, ref=ref, workspace_id=world.ws1)
        with pytest.raises(NotFound):
            identity.switch_workspace_for_ref(db, ref=ref, workspace_id=world.ws2)
        identity.end_session(db, token)
        assert identity.session_user_for_ref(db, ref) is None
        with pytest.raises(Unauthenticated):
            identity.actor_for_ref(db, ref)


@pytest.mark.parametrize(
    "ref", [None, "", "x", "A" * 64, "g" * 64, "a" * 63, "a" * 65, 42, ["a" * 64], "0" * 64]
)
def test_garbage_references_are_unauthenticated(engine: Engine, ref: object) -> None:
    with Session(engine) as db:
        assert identity.session_user_for_ref(db, ref) is None
        with pytest.raises(Unauthenticated):
            identity.actor_for_ref(db, ref)


def test_a_deactivated_person_has_no_reference_owner(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as db:
        user = identity.create_user(
            db, email="gone-ref@example.test", name="Gone", password=PASSWORD
        )
        token = identity.start_session(db, user=user, ttl_hours=1)
        user.is_active = False
        db.add(user)
        db.commit()
        assert identity.session_user_for_ref(db, identity.session_ref(token)) is None
