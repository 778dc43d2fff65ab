"""The Custom HTTP request action against a real service on loopback (the stand-in's
echo): each method arrives as chosen, under the connection's base URL, with its JSON
body and the credential; bad input is refused before anything is sent."""

from __future__ import annotations

import json
import secrets

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.connections.models import Connection
from connections_app.core.errors import Invalid
from connections_app.core.oauth import apps
from connections_app.core.tenancy.actor import Actor
from connections_app.core.vault import Vault
from connections_app.core.workflows import runs
from connections_app.core.workflows import service as workflows
from connections_app.core.workflows.models import RunStep
from connections_app.standin.oauth import OIDC_CLIENT_ID, OIDC_CLIENT_SECRET
from tests.conftest import World
from tests.integration.helpers import make_custom, workflow_with_node
from tests.integration.oauth_helpers import connect, session_for
from tests.standin_fixtures import StandIn


def _run_one(
    db: Session, engine: Engine, admin: Actor, conn_id: str, params: dict[str, str]
) -> tuple[RunStep, str]:
    """A one-node workflow with this action and connection, run now; its step and node."""
    app = db.exec(select(Connection.app).where(Connection.id == conn_id)).one()
    wf, node = workflow_with_node(
        db, admin, f"HTTP {secrets.token_hex(3)}", conn_id, params, app=app, action="http_request"
    )
    db.rollback()  # the run works in sessions of its own (SQLite: one writer at a time)
    run_id = runs.run_now(
        lambda: Session(engine, expire_on_commit=False), actor=admin, workflow_id=wf.id
    )
    return db.exec(select(RunStep).where(RunStep.run_id == run_id)).one(), node.id


def _connection(db: Session, world: World, standin: StandIn, key: str) -> str:
    admin = world.actors["admin1"]
    return make_custom(db, admin, standin.url, key, base_url=standin.url + "/echo/api").id


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("GET", None),
        ("POST", '{"a": 1}'),
        ("PUT", "[1, 2]"),
        ("PATCH", '{"b": null}'),
        ("DELETE", None),
    ],
)
def test_each_method_reaches_the_service_with_its_body_and_the_credential(
    db: Session,
    world: World,
    standin: StandIn,
    engine: Engine,
    method: str,
    body: str | None,
) -> None:
    admin = world.actors["admin1"]
    key = "k_" + secrets.token_hex(8)
    conn_id = _connection(db, world, standin, key)
    params = {"method": method, "path": "/items/7?view=full"}
    if body is not None:
        params["body"] = body
    step, _ = _run_one(db, engine, admin, conn_id, params)
    seen = standin.control("GET", "/captured").json()[-1]
    assert seen["method"] == method
    assert seen["path"] == "/echo/api/items/7" and seen["query"] == "view=full"
    assert seen["headers"]["x-api-key"] == key
    assert (json.loads(seen["body"]) if body else seen["body"]) == (
        json.loads(body) if body else ""
    )
    assert step.status == "succeeded" and step.http_status == 200
    assert step.result["method"] == method  # the answer, shown like any step's
    assert key not in json.dumps(step.result)
    view = runs.get(db, actor=admin, run_id=step.run_id)
    assert view.steps[0].action_name == "Custom HTTP request"


def test_bad_paths_and_bodies_are_refused_on_save_with_nothing_written(
    db: Session, world: World, standin: StandIn
) -> None:
    admin = world.actors["admin1"]
    conn_id = _connection(db, world, standin, "k_" + secrets.token_hex(8))
    _wf, node = workflow_with_node(
        db,
        admin,
        f"HTTP {secrets.token_hex(3)}",
        conn_id,
        {"method": "GET", "path": "/ok"},
        app="custom_api_key",
        action="http_request",
    )
    for params, message in (
        ({"method": "GET", "path": "https://elsewhere.test/x"}, "not a full URL"),
        ({"method": "GET", "path": "//elsewhere.test/x"}, "single “/”"),
        ({"method": "GET", "path": "/a/../../b"}, r"“\.\.”"),
        ({"method": "POST", "path": "/x", "body": "{nope"}, "not valid JSON"),
        ({"method": "GET", "path": "/x", "body": "{}"}, "A GET request has no body"),
    ):
        with pytest.raises(Invalid, match=message):
            workflows.update_node_params(db, actor=admin, node_id=node.id, params=params)
        db.rollback()
        assert workflows.get_node(db, actor=admin, node_id=node.id).params == {
            "method": "GET",
            "path": "/ok",
        }


def test_a_custom_oauth_connection_calls_userinfo_with_its_token(
    db: Session, engine: Engine, vault: Vault, world: World, standin: StandIn
) -> None:
    """The same action through an OAuth connection of a custom provider (OpenID Connect
    stand-in): the bearer token is applied, the path stays under the API base URL."""
    issuer = f"{standin.url}/oauth/oidc"
    found = apps.discover(world.actors["acct_admin"], issuer)
    with Session(engine, expire_on_commit=False) as own:
        registered = apps.save_app(
            own,
            world.actors["acct_admin"],
            vault=vault,
            values={
                "app": "custom_oauth2",
                "name": f"HTTP ID {secrets.token_hex(3)}",
                "client_id": OIDC_CLIENT_ID,
                "issuer": found.issuer,
                "authorize_url": found.authorize_url,
                "token_url": found.token_url,
                "userinfo_url": found.userinfo_url,
                "jwks_url": found.jwks_url,
                "scopes": "openid profile email",
                "api_base_url": issuer,
            },
            client_secret=OIDC_CLIENT_SECRET,
        )
    token = session_for(engine, world.user_ids["admin1"])
    outcome = connect(engine, vault, token, app="custom_oauth2", oauth_app=registered.id)
    assert outcome.ok and outcome.connection_id, outcome.message
    admin = world.actors["admin1"]
    step, node_id = _run_one(
        db, engine, admin, outcome.connection_id, {"method": "GET", "path": "/userinfo"}
    )
    assert step.status == "succeeded", step.message
    assert step.result["sub"] == "sub-alice"
    # A path that tries to leave the API base URL never reaches the provider.
    with pytest.raises(Invalid, match=r"“\.\.”"):
        workflows.update_node_params(
            db, actor=admin, node_id=node_id, params={"method": "GET", "path": "/../token"}
        )
