"""The OAuth apps screen and Add → Custom OAuth 2.0, called as a hostile browser can:
the client secret passes through a handler once and is never kept (state pickle),
only account admins change anything, ids from elsewhere find nothing."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.identity import service as identity
from connections_app.core.oauth import apps
from connections_app.core.oauth.models import AccountOAuthApp
from connections_app.core.vault import Vault
from connections_app.core.workflows import service as workflows
from connections_app.ui.states.add_connection import AddConnectionState
from connections_app.ui.states.oauth_apps import OAuthAppsState
from tests.conftest import World
from tests.integration import test_ui_handlers
from tests.integration.test_ui_handlers import Cookie, _everything, _sign_in, _state
from tests.standin_fixtures import StandIn

as_browser = test_ui_handlers.as_browser  # the shared "browser" fixture

SECRET = "cl+ient%2Fsecret:with/odd-9z8y"
ROTATED = "rot+ated%3A:/secret-7x6w"


def _form(**extra: str) -> dict[str, str]:
    return {
        "cx_intent": "save",
        "cx_app": "custom_oauth2",
        "name": "Acme ID",
        "issuer": "",
        "authorize_url": "https://id.acme.test/authorize",
        "token_url": "https://id.acme.test/token",
        "revocation_url": "https://id.acme.test/revoke",
        "userinfo_url": "https://id.acme.test/userinfo",
        "jwks_url": "",
        "scopes": "openid profile email",
        "identity_field": "",
        "name_field": "email",
        "test_path": "",
        "api_base_url": "https://id.acme.test",
        "client_id": "acme-client",
        "token_auth_method": "client_secret_basic",
        "pkce": "on",
        "extra__prompt": "consent",
        "client_secret": SECRET,
        **extra,
    }


def _rows(engine: Engine) -> list[tuple]:
    with Session(engine) as db:
        return sorted(
            (r.id, r.account_id, r.name, r.client_id, r.secret_ciphertext, r.token_url)
            for r in db.exec(select(AccountOAuthApp)).all()
        )


async def _submit(state: OAuthAppsState, form: dict) -> None:
    """A background handler driven directly (Reflex runs it the same way)."""
    handler = OAuthAppsState.submit.fn  # type: ignore[attr-defined]
    await handler(state, form)


async def test_add_custom_oauth_without_providers_offers_no_connect(
    as_browser: type[Cookie], engine: Engine, world: World
) -> None:
    """First in this module (the world is shared): the account has no provider yet."""
    as_browser.value = _sign_in(engine, world.user_ids["builder1"])
    add = await _state(AddConnectionState)
    await add.pick_app("custom_oauth2")
    assert add.custom_oauth
    assert (
        add.providers == []
        and not add.oauth_ready
        and add.oauth_url == ""
        and add.another_url == ""
    )


async def test_an_account_admin_adds_edits_rotates_and_deletes_without_keeping_the_secret(
    as_browser: type[Cookie], engine: Engine, world: World
) -> None:
    as_browser.value = _sign_in(engine, world.user_ids["acct_admin"])
    state = await _state(OAuthAppsState)
    await state.load()
    assert state.denied == ""
    name = f"Acme {secrets.token_hex(3)}"
    state.open_new()
    await _submit(state, _form(name=name))
    assert state.error == "", state.error
    row = next(r for r in state.items if r.name == name)
    assert row.masked == "••••" + SECRET[-4:] and row.is_custom
    assert SECRET.encode() not in _everything(state)

    await state.open_edit(row.id)
    assert state.draft["name_field"] == "email" and state.draft["extra__prompt"] == "consent"
    assert "client_secret" not in state.draft
    await _submit(state, _form(name=name, scopes="openid", client_secret=""))  # keeps it
    row = next(r for r in state.items if r.id == row.id)
    assert row.scopes == "openid" and row.masked.endswith(SECRET[-4:])

    state.ask_rotate(row.id)
    await OAuthAppsState.rotate.fn(state, {"client_secret": ROTATED})  # type: ignore[attr-defined]
    assert next(r for r in state.items if r.id == row.id).masked == "••••" + ROTATED[-4:]
    dump = _everything(state)
    assert SECRET.encode() not in dump and ROTATED.encode() not in dump

    state.ask_delete(row.id)
    await state.confirm_delete()
    assert row.id not in {r.id for r in state.items}
    assert row.id not in {r[0] for r in _rows(engine)}


async def test_a_bad_form_says_which_field_and_writes_nothing(
    as_browser: type[Cookie], engine: Engine, world: World
) -> None:
    as_browser.value = _sign_in(engine, world.user_ids["acct_admin"])
    state = await _state(OAuthAppsState)
    await state.load()
    before = _rows(engine)
    state.open_new()
    await _submit(state, _form(name="Bad one", token_url="ftp://nope"))
    assert state.error_field == "token_url" and "Token URL" in state.error
    assert state.draft["name"] == "Bad one"  # what was typed stays (not the secret)
    assert _rows(engine) == before
    assert SECRET.encode() not in _everything(state)


@pytest.mark.parametrize("who", ["admin1", "builder1", "viewer1", "client1", "foreign_admin"])
async def test_no_one_else_sees_or_changes_an_accounts_oauth_apps(
    as_browser: type[Cookie], engine: Engine, vault: Vault, world: World, who: str
) -> None:
    made = _register(engine, vault, world, "Acme")
    before = _rows(engine)
    assert made.id in {r[0] for r in before}
    as_browser.value = _sign_in(engine, world.user_ids[who])
    state = await _state(OAuthAppsState)
    await state.load()
    assert state.items == [] and state.denied != ""
    # A forged browser: it opens the editor on the real id and submits anyway.
    await state.open_edit(made.id)
    state.editor_open, state.editing_id = True, made.id
    await _submit(state, _form(client_id="hijacked", client_secret="attacker-secret"))
    assert state.error != ""
    state.rotate_open, state.target_id = True, made.id
    await OAuthAppsState.rotate.fn(state, {"client_secret": "attacker-secret"})  # type: ignore[attr-defined]
    state.target_id = made.id
    await state.confirm_delete()
    assert _rows(engine) == before


def _register(engine: Engine, vault: Vault, world: World, prefix: str) -> apps.OAuthAppView:
    """A custom provider registered by the account admin, straight through the core."""
    with Session(engine, expire_on_commit=False) as db:
        return apps.save_app(
            db,
            world.actors["acct_admin"],
            vault=vault,
            values=_values(f"{prefix} {secrets.token_hex(3)}"),
            client_secret=SECRET,
        )


def _values(name: str) -> dict[str, object]:
    """The same registration as `_form`, as the core takes it directly."""
    keep = (
        "authorize_url", "token_url", "revocation_url", "userinfo_url", "scopes",
        "name_field", "api_base_url", "client_id", "token_auth_method",
    )  # fmt: skip
    form = _form()
    return {"app": "custom_oauth2", "name": name, **{k: form[k] for k in keep}}


async def test_add_custom_oauth_offers_the_accounts_providers_only(
    as_browser: type[Cookie], engine: Engine, vault: Vault, world: World
) -> None:
    made = _register(engine, vault, world, "Acme")
    with Session(engine, expire_on_commit=False) as db:
        identity.make_account_admin(
            db,
            account_id=world.other_account_id,
            user_id=world.user_ids["foreign_admin"],
            by="test",
        )
        foreign_admin = identity.actor_for_member(
            db, user_id=world.user_ids["foreign_admin"], workspace_id=world.other_ws
        )
        foreign = apps.save_app(
            db,
            foreign_admin,
            vault=vault,
            values=_values(f"Other {secrets.token_hex(3)}"),
            client_secret=SECRET,
        )
    as_browser.value = _sign_in(engine, world.user_ids["builder1"])
    add = await _state(AddConnectionState)
    await add.pick_app("custom_oauth2")
    assert made.id in {p.value for p in add.providers}
    add.choose_provider(made.id)
    assert add.oauth_ready and f"oauth_app={made.id}" in add.oauth_url
    assert "another=1" in add.another_url and f"oauth_app={made.id}" in add.another_url
    assert foreign.id not in {p.value for p in add.providers}
    before = add.oauth_url
    for hostile in (foreign.id, "f" * 32, {"$ne": ""}, None):
        add.choose_provider(hostile)  # ids the core did not list
        assert add.oauth_url == before


async def test_a_catalog_app_registered_by_the_account_offers_sign_in(
    as_browser: type[Cookie], engine: Engine, vault: Vault, world: World
) -> None:
    with Session(engine, expire_on_commit=False) as db:
        apps.save_app(
            db,
            world.actors["acct_admin"],
            vault=vault,
            values={"app": "hubspot", "client_id": "agency-hubspot-client"},
            client_secret=SECRET,
        )
    as_browser.value = _sign_in(engine, world.user_ids["builder1"])
    add = await _state(AddConnectionState)
    await add.pick_app("hubspot")
    assert add.oauth_ready and not add.oauth_missing
    assert "app=hubspot" in add.oauth_url and not add.custom_oauth


async def test_discover_fills_the_endpoints_for_account_admins_only(
    as_browser: type[Cookie], engine: Engine, world: World, standin: StandIn
) -> None:
    issuer = f"{standin.url}/oauth/oidc"
    as_browser.value = _sign_in(engine, world.user_ids["acct_admin"])
    state = await _state(OAuthAppsState)
    await state.load()
    state.open_new()
    form = _form(cx_intent="discover", issuer=issuer, authorize_url="", token_url="")
    form["api_base_url"] = ""
    await _submit(state, form)
    assert state.error == "", state.error
    assert state.draft["authorize_url"] == f"{issuer}/authorize"
    assert state.draft["token_url"] == f"{issuer}/token"
    assert state.draft["jwks_url"] == f"{issuer}/jwks"
    assert state.draft["api_base_url"] == issuer and state.draft["name"] == "Acme ID"
    assert "Filled from" in state.notice
    assert SECRET.encode() not in _everything(state)

    as_browser.value = _sign_in(engine, world.user_ids["admin1"])  # a workspace admin
    forged = await _state(OAuthAppsState)
    forged.editor_open = True
    await _submit(forged, _form(cx_intent="discover", issuer=issuer, authorize_url=""))
    assert forged.error != "" and forged.draft.get("authorize_url", "") == ""


async def test_an_open_custom_oauth_step_follows_the_accounts_registrations(
    as_browser: type[Cookie], engine: Engine, vault: Vault, world: World
) -> None:
    as_browser.value = _sign_in(engine, world.user_ids["builder1"])
    add = await _state(AddConnectionState)
    await add.pick_app("custom_oauth2")
    add.open = True
    before = [p.value for p in add.providers]
    chosen = add.provider_id
    made = _register(engine, vault, world, "Late")
    await add._on_workspace_change()  # what the alert bridge calls for this tab
    assert made.id in {p.value for p in add.providers}
    assert len(add.providers) == len(before) + 1
    assert add.provider_id == (chosen or made.id) and add.oauth_ready


async def test_connect_new_account_from_a_custom_oauth_node_offers_the_providers(
    as_browser: type[Cookie], engine: Engine, vault: Vault, world: World
) -> None:
    made = _register(engine, vault, world, "Node")
    with Session(engine, expire_on_commit=False) as db:
        builder = world.actors["builder1"]
        wf = workflows.create_workflow(db, actor=builder, name=f"Node {secrets.token_hex(3)}")
        node = workflows.add_node(
            db,
            actor=builder,
            workflow_id=wf.id,
            app="custom_oauth2",
            action="http_request",
            params={"method": "GET", "path": "/userinfo"},
        )
    as_browser.value = _sign_in(engine, world.user_ids["builder1"])
    add = await _state(AddConnectionState)
    await add.open_for_node(node.id)
    assert add.open and add.custom_oauth and add.for_node == node.id
    add.choose_provider(made.id)
    assert f"oauth_app={made.id}" in add.oauth_url and f"node={node.id}" in add.oauth_url
    assert f"node={node.id}" in add.another_url
