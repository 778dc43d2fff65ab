"""The Workspaces screen's handlers (F7) called the way a hostile browser can: members of
a workspace and another account's admin load nothing, and a forged confirmation (the
dialog's target and typed name set by hand) deletes nothing; the account admin's wrong
name leaves a message and the workspace; the right one deletes it."""

from __future__ import annotations

import os
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from connections_app.core.identity import service as identity
from connections_app.core.identity.models import Workspace
from connections_app.core.vault import Vault
from connections_app.ui.states.workspaces import WorkspacesState
from tests.conftest import World
from tests.integration.test_ui_handlers import Cookie, signed_in_state
from tests.integration.test_ui_handlers import as_browser as as_browser


def _throwaway(engine: Engine, vault: Vault, world: World) -> tuple[str, str]:
    name = f"Handlers {os.urandom(3).hex()}"
    slug = name.lower().replace(" ", "-")
    with Session(engine, expire_on_commit=False) as db:
        made = identity.create_workspace(
            db, vault=vault, account_id=world.account_id, name=name, slug=slug, by="t"
        )
    return made.id, name


async def _confirm(state: WorkspacesState) -> list[Any]:
    return [event async for event in state.confirm_delete()]  # type: ignore[attr-defined]


def _exists(engine: Engine, workspace_id: str) -> bool:
    with Session(engine) as db:
        return db.get(Workspace, workspace_id) is not None


@pytest.mark.parametrize("who", ["admin1", "builder1", "viewer1", "client1", "foreign_admin"])
async def test_others_load_nothing_and_delete_nothing(
    as_browser: type[Cookie],
    engine: Engine,
    vault: Vault,
    world: World,
    who: str,
) -> None:
    target, name = _throwaway(engine, vault, world)
    state = await signed_in_state(engine, as_browser, world.user_ids[who], WorkspacesState)
    await state.load()
    assert state.allowed is False and state.rows == []
    await state.open_delete(target)
    assert state.delete_open is False and state.delete_lines == []
    # Forged: the dialog's target and the typed name set by hand.
    state.delete_id, state.typed, state.delete_open = target, name, True
    await _confirm(state)
    assert state.form_error and _exists(engine, target)


async def test_the_account_admin_deletes_with_the_exact_name(
    as_browser: type[Cookie],
    engine: Engine,
    vault: Vault,
    world: World,
) -> None:
    target, name = _throwaway(engine, vault, world)
    state = await signed_in_state(engine, as_browser, world.user_ids["acct_admin"], WorkspacesState)
    await state.load()
    assert state.allowed and name in {r.label for r in state.rows}
    await state.open_delete(target)
    assert state.delete_open and state.delete_name == name
    assert "0 connections and every stored credential" in state.delete_lines
    state.typed_changed(name.upper())
    await _confirm(state)
    assert "exactly" in state.form_error and _exists(engine, target)
    assert state.busy is False and state.delete_open
    state.typed_changed(name)
    await _confirm(state)
    assert not _exists(engine, target)
    assert state.delete_open is False and name not in {r.label for r in state.rows}
