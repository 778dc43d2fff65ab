"""The People tab's handlers (F24) called the way a hostile browser can call them: by a
builder, viewer, client and the admins of other workspaces and accounts, with ids of
other workspaces' invitations and with the dialogs' targets forged. Nothing changes
and nothing reaches their state; this workspace's admin invites and revokes through
the same handlers, and the link never enters the state."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from connections_app.core.errors import NotFound
from connections_app.core.identity import invitations
from connections_app.ui.states.client_people import LINK_INPUT_ID, ClientPeopleState
from connections_app.ui.states.session import SessionState
from tests.conftest import World
from tests.integration.test_ui_handlers import (  # noqa: F401
    Cookie,
    _everything,
    _sign_in,
    _state,
    as_browser,
)


def snapshot(engine: Engine) -> list[tuple]:
    """Every row of the tables an invitation touches (refusals add audit rows only)."""
    meta = MetaData()
    meta.reflect(bind=engine, only=["client_invitations", "client_users", "users"])
    with engine.connect() as conn:
        return [tuple(r) for t in meta.sorted_tables for r in conn.execute(select(t))]


def fresh_email() -> str:
    return f"handler-invitee-{os.urandom(3).hex()}@client.test"


def link_of(event: object) -> str:
    """The link a `set_value` event writes into the dialog's input."""
    text = str(event)
    assert "ref_" + LINK_INPUT_ID.replace("-", "_") in text, text
    start = text.index("http")
    return text[start : text.index("/invite/", start) + len("/invite/") + 43]


async def _as(engine: Engine, world: World, who: str) -> ClientPeopleState:
    Cookie.value = _sign_in(engine, world.user_ids[who])
    state = await _state(ClientPeopleState)
    await (await state.get_state(SessionState)).load_session()
    return state  # type: ignore[return-value]


@pytest.mark.parametrize(
    "who", ["builder1", "viewer1", "client1", "admin2", "builder2", "foreign_admin"]
)
async def test_others_change_nothing_and_see_nothing(
    as_browser: type[Cookie],  # noqa: F811
    engine: Engine,
    world: World,
    who: str,
) -> None:
    with Session(engine, expire_on_commit=False) as db:
        made = invitations.invite(db, world.actors["admin1"], fresh_email(), "Theirs")
    state = await _as(engine, world, who)
    before = snapshot(engine)
    await state.load()
    assert made.invitation.id not in {r.id for r in state.invites}
    assert world.user_ids["client1"] not in {p.id for p in state.people} or who == "client1"
    if who not in ("admin2", "foreign_admin"):  # admins elsewhere see their own (none here)
        assert state.denied and state.invites == [] and state.people == []
        state.open_invite()
        assert state.invite_open is False
    # Forged: the dialog forced open (admins elsewhere may invite into their own
    # workspace: that is not this one, and is tested as the admin's case).
    other_admin = who in ("admin2", "foreign_admin")
    if not other_admin:
        state.invite_open = True
        assert await state.invite({"email": fresh_email(), "name": "x"}) is None
        assert state.link_shown is False
    state.ask_revoke(made.invitation.id)
    assert state.revoke_open is False
    state.target_id = made.invitation.id
    await state.confirm_revoke()
    for odd in (None, 7, {"id": 1}, "x" * 500):
        state.target_id = odd  # type: ignore[assignment]
        await state.confirm_revoke()
        state.invite_open, state.link_shown = True, False
        assert await state.invite(odd) is None  # type: ignore[arg-type]
    assert snapshot(engine) == before
    with Session(engine) as db:
        assert invitations.preview(db, made.token).email == made.invitation.email


async def test_the_admin_invites_and_revokes_and_the_link_never_enters_state(
    as_browser: type[Cookie],  # noqa: F811
    engine: Engine,
    world: World,
) -> None:
    with Session(engine, expire_on_commit=False) as db:
        theirs = invitations.invite(db, world.actors["admin2"], fresh_email())
    state = await _as(engine, world, "admin1")
    await state.load()
    assert state.denied == ""
    state.open_invite()
    assert state.invite_open
    await state.invite({"email": "not-an-email", "name": ""})
    assert state.error_field == "email" and state.link_shown is False
    await state.invite({"email": world.actors["viewer1"].label, "name": ""})
    assert "already works in this workspace" in state.error
    email = fresh_email()
    event = await state.invite({"email": email, "name": "Ina"})
    link = link_of(event)
    token = link.rsplit("/", 1)[1]
    assert state.link_shown and state.link_email == email
    assert token.encode() not in _everything(state)  # never pickled into the store
    with Session(engine) as db:
        assert invitations.preview(db, token).email == email
    row = next(r for r in state.invites if r.email == email)
    assert row.state == "pending" and row.may_revoke
    # A second submit of the same dialog makes nothing new.
    assert await state.invite({"email": fresh_email(), "name": ""}) is None
    closed = state.invite_open_changed(False)
    assert state.invite_open is False and "ref_invite_link" in str(closed)
    # Another workspace's invitation stays out of reach.
    state.target_id = theirs.invitation.id
    await state.confirm_revoke()
    assert "not found" in state.revoke_error.lower()
    state.ask_revoke(row.id)
    assert state.revoke_open and state.target_email == email
    await state.confirm_revoke()
    assert state.revoke_open is False
    assert next(r for r in state.invites if r.email == email).state == "revoked"
    with Session(engine) as db:
        with pytest.raises(NotFound):
            invitations.preview(db, token)
        assert invitations.preview(db, theirs.token).email == theirs.invitation.email
