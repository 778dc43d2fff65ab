"""The account screens' handlers (F9, F25) called the way a hostile browser can call
them: by a workspace admin, builder, viewer and client, with another account's or
another workspace's connection and grant ids, even with the dialogs' targets forged.
Nothing changes (DB snapshot) and nothing of them reaches the state; an account admin
uses the same handlers to grant, cap and remove."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from connections_app.core.connections import grants
from connections_app.ui.states.account_connections import AccountConnectionsState, LlmKeysState
from connections_app.ui.states.add_connection import AddConnectionState
from connections_app.ui.states.session import SessionState
from tests.conftest import World
from tests.integration.helpers import account_key, grants_snapshot, other_account_admin
from tests.integration.test_ui_handlers import Cookie, _sign_in, _state, as_browser  # noqa: F401

KEY = "sk-HandlerAccountKey00011"
_n = iter(range(100_000))


@pytest.fixture
def targets(engine: Engine, world: World) -> Iterator[dict[str, str]]:
    """Another account's key and grant, and this account's key granted to workspace 2."""
    other = other_account_admin(engine, world.other_account_id, world.other_ws)
    ada = world.actors["acct_admin"]
    with Session(engine, expire_on_commit=False) as db:
        theirs = account_key(db, other, f"Theirs {next(_n)}", KEY)
        their_grant = grants.grant(
            db, actor=other, connection_id=theirs, workspace_id=world.other_ws
        ).id
        ours = account_key(db, ada, f"Ours {next(_n)}", KEY)
        ws2_grant = grants.grant(db, actor=ada, connection_id=ours, workspace_id=world.ws2).id
    yield {"theirs": theirs, "their_grant": their_grant, "ours": ours, "ws2_grant": ws2_grant}


@pytest.mark.parametrize("who", ["admin1", "builder1", "viewer1", "client1"])
async def test_workspace_people_change_nothing_and_see_nothing(
    as_browser: type[Cookie],  # noqa: F811
    engine: Engine,
    world: World,
    targets: dict[str, str],
    who: str,
) -> None:
    as_browser.value = _sign_in(engine, world.user_ids[who])
    state = await _state(AccountConnectionsState)
    await (await state.get_state(SessionState)).load_session()
    before = grants_snapshot(engine)
    await state.load()
    assert state.allowed is False and state.cards == [] and state.rows == []
    for conn_id in (targets["theirs"], targets["ours"], None, 7, "x" * 500):
        await state.open_grant(conn_id)
        assert state.grant_open is False and state.grant_choices == []
    # Even with the dialogs' targets forged, the core refuses.
    state.grant_connection = targets["ours"]
    await state.submit_grant({"workspace": world.ws1, "cap": "1"})
    state.grant_connection = targets["theirs"]
    await state.submit_grant({"workspace": world.other_ws, "cap": ""})
    for grant_id in (targets["ws2_grant"], targets["their_grant"]):
        state.open_cap(grant_id)
        state.ask_remove(grant_id)
        assert state.cap_open is False and state.remove_open is False
        state.cap_grant = state.remove_grant = grant_id
        await state.submit_cap({"cap": "99"})
        await state.clear_cap()
        await state.confirm_remove()
    add = await state.get_state(AddConnectionState)
    await add.open_for_account(True)
    assert add.open is False
    keys = await state.get_state(LlmKeysState)
    await keys.load()
    assert keys.allowed is False and keys.cards == []
    assert grants_snapshot(engine) == before


async def test_account_admin_grants_caps_and_removes_through_the_handlers(
    as_browser: type[Cookie],  # noqa: F811
    engine: Engine,
    world: World,
    targets: dict[str, str],
) -> None:
    as_browser.value = _sign_in(engine, world.user_ids["acct_admin"])
    state = await _state(LlmKeysState)
    await (await state.get_state(SessionState)).load_session()
    await state.load()
    assert state.allowed is True
    ids = {card.connection.id for card in state.cards}
    assert targets["ours"] in ids and targets["theirs"] not in ids
    # Another account's ids stay not found even for an account admin.
    before = grants_snapshot(engine)
    await state.open_grant(targets["theirs"])
    assert state.grant_open is False
    state.grant_connection = targets["theirs"]
    await state.submit_grant({"workspace": world.ws1, "cap": ""})
    state.cap_grant = state.remove_grant = targets["their_grant"]
    await state.submit_cap({"cap": "3"})
    await state.confirm_remove()
    assert grants_snapshot(engine) == before
    # Grant to workspace 1 with a cap, change it, clear it, remove the grant.
    await state.open_grant(targets["ours"])
    assert state.grant_open and [c.value for c in state.grant_choices] == [world.ws1]
    await state.submit_grant({"workspace": world.ws1, "cap": "nonsense"})
    assert state.grant_open and "dollars" in state.form_error
    await state.submit_grant({"workspace": world.ws1, "cap": "1.00"})
    assert state.grant_open is False
    card = next(c for c in state.cards if c.connection.id == targets["ours"])
    granted = {g.workspace: g for g in card.grants}
    assert granted["Client One"].cap == "$1.00" and granted["Client Two"].cap == "No cap"
    state.open_cap(granted["Client One"].id)
    assert state.cap_open and state.cap_value == "1.00"
    await state.submit_cap({"cap": "2.50"})
    card = next(c for c in state.cards if c.connection.id == targets["ours"])
    assert {g.workspace: g.cap for g in card.grants}["Client One"] == "$2.50"
    state.open_cap(granted["Client One"].id)
    await state.clear_cap()
    state.ask_remove(granted["Client One"].id)
    assert state.remove_open and state.remove_workspace == "Client One"
    await state.confirm_remove()
    card = next(c for c in state.cards if c.connection.id == targets["ours"])
    assert [g.workspace for g in card.grants] == ["Client Two"]
