"""The account OAuth app registry (F27): account admins only, another account's ids are
not found, the client secret is sealed and write-only, edits that would move existing
connections' tokens are refused."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core import alerts
from connections_app.core.audit import AuditEvent
from connections_app.core.errors import Conflict, Forbidden, Invalid, NotFound
from connections_app.core.oauth import apps
from connections_app.core.oauth.models import AccountOAuthApp
from connections_app.core.vault import Vault
from tests.conftest import World

SECRET = "s3cr+et%2F:with/odd-chars-0000"


def _custom(name: str = "Acme ID", **extra: object) -> dict[str, object]:
    return {
        "app": "custom_oauth2",
        "name": name,
        "client_id": "acme-client",
        "authorize_url": "https://id.acme.test/authorize",
        "token_url": "https://id.acme.test/token",
        "userinfo_url": "https://id.acme.test/userinfo",
        "api_base_url": "https://api.acme.test",
        "scopes": "openid profile email",
        "extra_params": {"prompt": "consent"},
        **extra,
    }


def _snapshot(engine: Engine) -> list[tuple]:
    with Session(engine) as db:
        rows = db.exec(select(AccountOAuthApp)).all()
        return sorted(
            (r.id, r.account_id, r.name, r.client_id, r.secret_ciphertext, r.token_url)
            for r in rows
        )


def test_an_account_admin_registers_a_custom_provider_with_a_sealed_secret(
    db: Session, engine: Engine, vault: Vault, world: World
) -> None:
    admin = world.actors["acct_admin"]
    view = apps.save_app(db, admin, vault=vault, values=_custom(), client_secret=SECRET)
    assert view.is_custom and view.has_secret and view.secret_tail == SECRET[-4:]
    assert view.extra_params == {"prompt": "consent"} and view.used_by == ()
    with Session(engine) as other:
        row = other.get(AccountOAuthApp, view.id)
        assert row is not None and row.secret_ciphertext is not None
        assert SECRET.encode() not in row.secret_ciphertext
        events = other.exec(select(AuditEvent).where(AuditEvent.target_id == view.id)).all()
        assert [e.action for e in events] == ["created"]
        assert SECRET not in str(events[0].detail)
    # Update without a secret keeps it; the tail stays.
    updated = apps.save_app(
        db, admin, vault=vault, app_id=view.id, values=_custom(scopes="openid"), client_secret=""
    )
    assert updated.scopes == "openid" and updated.secret_tail == SECRET[-4:]
    resolved = apps.resolve(
        db,
        vault=vault,
        account_id=world.account_id,
        definition=apps.get_catalog().get("custom_oauth2"),
        oauth_app_id=view.id,
    )
    db.rollback()
    assert resolved.credentials.client_secret == SECRET and resolved.source == "account"
    assert "s3cr" not in repr(resolved.credentials)
    rotated = apps.rotate_secret(
        db, admin, vault=vault, app_id=view.id, client_secret="another-longer-secret-9999"
    )
    assert rotated.secret_tail == "9999"
    assert [v.id for v in apps.list_apps(db, admin)] == [view.id]
    db.rollback()
    apps.delete_app(db, admin, app_id=view.id)
    assert apps.list_apps(db, admin) == []
    db.rollback()


@pytest.mark.parametrize(
    "bad",
    [
        {"extra_params": {"redirect_uri": "https://evil.test"}},
        {"extra_params": {"prompt": "whatever"}},
        {"token_url": "ftp://id.acme.test/token"},
        {"token_auth_method": "private_key_jwt"},
        {"api_base_url": ""},
        {"test_path": "//evil.test/x"},
        {"name": "x" * 200},
        {"userinfo_url": None, "issuer": None, "jwks_url": None},
    ],
)
def test_bad_input_is_refused_clearly_and_nothing_is_written(
    db: Session, engine: Engine, vault: Vault, world: World, bad: dict
) -> None:
    before = _snapshot(engine)
    with pytest.raises(Invalid):
        apps.save_app(
            db, world.actors["acct_admin"], vault=vault, values=_custom(**bad), client_secret="x"
        )
    db.rollback()
    assert _snapshot(engine) == before


def test_a_secret_is_required_unless_the_client_is_public(
    db: Session, vault: Vault, world: World
) -> None:
    admin = world.actors["acct_admin"]
    with pytest.raises(Invalid, match="client secret"):
        apps.save_app(db, admin, vault=vault, values=_custom("No secret"), client_secret=None)
    db.rollback()
    public = apps.save_app(
        db,
        admin,
        vault=vault,
        values=_custom("Public", token_auth_method="none"),
        client_secret=None,
    )
    assert not public.has_secret and public.secret_tail == ""
    with pytest.raises(Conflict):
        apps.save_app(db, admin, vault=vault, values=_custom("public"), client_secret="x")
    db.rollback()
    apps.delete_app(db, admin, app_id=public.id)


def test_a_catalog_app_registration_keeps_the_catalogs_endpoints(
    db: Session, vault: Vault, world: World
) -> None:
    admin = world.actors["acct_admin"]
    with pytest.raises(Invalid, match="catalog"):
        apps.save_app(
            db,
            admin,
            vault=vault,
            values={"app": "slack", "client_id": "x", "token_url": "https://evil.test/t"},
            client_secret="y",
        )
    db.rollback()
    member = world.actors["builder1"]
    assert not apps.sign_in_available(db, member, "slack")
    view = apps.save_app(
        db,
        admin,
        vault=vault,
        values={"app": "slack", "client_id": "acct-slack"},
        client_secret="y",
    )
    assert view.name == "Slack" and view.token_url == ""
    assert apps.sign_in_available(db, member, "slack")
    assert not apps.sign_in_available(db, world.actors["foreign_admin"], "slack")
    with pytest.raises(Conflict):
        apps.save_app(
            db, admin, vault=vault, values={"app": "slack", "client_id": "b"}, client_secret="z"
        )
    db.rollback()
    apps.delete_app(db, admin, app_id=view.id)


@pytest.mark.parametrize(
    "who", ["admin1", "builder1", "viewer1", "client1", "admin2", "foreign_admin"]
)
def test_nobody_but_the_accounts_admins_reaches_its_oauth_apps(
    db: Session, engine: Engine, vault: Vault, world: World, who: str
) -> None:
    owner = world.actors["acct_admin"]
    view = apps.save_app(db, owner, vault=vault, values=_custom("Hostile"), client_secret=SECRET)
    db.rollback()
    before = _snapshot(engine)
    actor = world.actors[who]
    calls = [
        lambda: apps.list_apps(db, actor),
        lambda: apps.get_app(db, actor, view.id),
        lambda: apps.save_app(
            db, actor, vault=vault, app_id=view.id, values=_custom("Mine"), client_secret="x"
        ),
        lambda: apps.rotate_secret(db, actor, vault=vault, app_id=view.id, client_secret="x"),
        lambda: apps.delete_app(db, actor, app_id=view.id),
    ]
    for call in calls:
        with pytest.raises((Forbidden, NotFound)):
            call()
        db.rollback()
    assert _snapshot(engine) == before
    apps.delete_app(db, owner, app_id=view.id)


def test_another_accounts_admin_gets_not_found(db: Session, vault: Vault, world: World) -> None:
    owner = world.actors["acct_admin"]
    view = apps.save_app(db, owner, vault=vault, values=_custom("Theirs"), client_secret=SECRET)
    foreign = world.actors["foreign_admin"]
    foreign_admin = type(foreign)(**{**foreign.__dict__, "is_account_admin": True})
    for app_id in (view.id, "x" * 500, 7, None, {"id": view.id}):
        with pytest.raises((NotFound, Invalid)):
            apps.get_app(db, foreign_admin, app_id)
        with pytest.raises((NotFound, Invalid)):
            apps.rotate_secret(db, foreign_admin, vault=vault, app_id=app_id, client_secret="x")
        db.rollback()
    assert apps.list_apps(db, foreign_admin) == []
    with pytest.raises(NotFound):
        apps.custom_app_id(db, foreign_admin, view.id)
    apps.delete_app(db, owner, app_id=view.id)


def test_a_change_signals_every_workspace_of_the_account(
    db: Session, vault: Vault, world: World
) -> None:
    seen: list[str] = []
    stop = alerts.subscribe(seen.append)
    try:
        view = apps.save_app(
            db,
            world.actors["acct_admin"],
            vault=vault,
            values=_custom("Signals"),
            client_secret="x",
        )
        apps.delete_app(db, world.actors["acct_admin"], app_id=view.id)
    finally:
        stop()
    assert {world.ws1, world.ws2} <= set(seen) and world.other_ws not in seen
