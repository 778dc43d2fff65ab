"""Driving the connect flow without a browser: the consent page is answered over HTTP."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
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
from connections_app.standin.overrides import catalog_env

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
    scope: str = "workspace",
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
            scope=scope,
        )
    params = consent(url, decision=decision, account=account)
    with Session(engine, expire_on_commit=False) as db:
        return oauth_lifecycle.finish(db, session_token=token, params=params, vault=vault)


def start_refreshers(
    count: int,
    *,
    standin_url: str,
    db_url: str,
    master_key: bytes,
    data_dir: Path,
    args: Sequence[str] = ("--until-idle", "--interval", "0.05"),
    env: dict[str, str] | None = None,
) -> list[subprocess.Popen[str]]:
    """`count` real `connections-admin refresher` processes on the test database."""
    full_env = {
        **os.environ,
        **catalog_env(standin_url),
        "REFLEX_DB_URL": db_url,
        "CONNECTIONS_MASTER_KEY": base64.urlsafe_b64encode(master_key).decode(),
        "CONNECTIONS_DATA_DIR": str(data_dir),
        **(env or {}),
    }
    exe = str(Path(sys.executable).parent / "connections-admin")
    return [
        subprocess.Popen(
            [exe, "refresher", *args],
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


def finish(procs: list[subprocess.Popen[str]], timeout: float = 300) -> list[str]:
    """Each process's output, once all have exited 0."""
    outputs = [p.communicate(timeout=timeout) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    return [out for out, _ in outputs]
