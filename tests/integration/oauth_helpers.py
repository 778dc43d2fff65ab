"""Driving the connect flow without a browser: the consent page is answered over HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from connections_app.core.connections import oauth_lifecycle
from connections_app.core.identity import service as identity
from connections_app.core.identity.models import User
from connections_app.core.oauth import clients, flow
from connections_app.core.vault import Vault
from connections_app.standin.oauth import client_id_for, client_secret_for

REDIRECT = "http://127.0.0.1:9/oauth/callback"


def register_clients(engine: Engine, vault: Vault, apps: tuple[str, ...] = ("slack",)) -> None:
    with Session(engine) as db:
        for app in apps:
            clients.set_client(
                db,
                vault=vault,
                app=app,
                client_id=client_id_for(app),
                client_secret=client_secret_for(app),
            )
        db.commit()


def session_for(engine: Engine, user_id: str) -> str:
    with Session(engine, expire_on_commit=False) as db:
        user = db.get(User, user_id)
        assert user is not None
        return identity.start_session(db, user=user, ttl_hours=1)


def consent(authorize_url: str, *, decision: str = "allow", account: str = "alice") -> dict:
    with httpx.Client(timeout=5, follow_redirects=False) as http:
        assert http.get(authorize_url).status_code == 200
        answer = http.post(authorize_url, data={"decision": decision, "account": account})
    assert answer.status_code == 302, answer.text
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}


def connect(
    engine: Engine,
    vault: Vault,
    token: str,
    *,
    app: str = "slack",
    account: str = "alice",
    decision: str = "allow",
    target: str = "new",
    node: str | None = None,
    oauth_app: str | None = None,
    another: bool = False,
) -> flow.FlowOutcome:
    with Session(engine, expire_on_commit=False) as db:
        actor = identity.actor_for_token(db, token)
        url = oauth_lifecycle.start(
            db,
            actor=actor,
            session_token=token,
            app=app,
            redirect_uri=REDIRECT,
            vault=vault,
            target=target,
            node=node,
            oauth_app=oauth_app,
            another_account=another,
        )
    params = consent(url, decision=decision, account=account)
    with Session(engine, expire_on_commit=False) as db:
        return oauth_lifecycle.finish(db, session_token=token, params=params, vault=vault)
