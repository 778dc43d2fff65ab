"""Sealed values of every kind, across workspaces and accounts: what the rotation and
tampering drills work on. Each value is made the way the product makes it (the service,
the same `SealedPlace` constructors), and remembered with its plaintext."""

from __future__ import annotations

import os
from datetime import timedelta

from sqlmodel import Session, select

from connections_app.core.clock import utcnow
from connections_app.core.connections import secret_rows, service
from connections_app.core.connections.models import Connection, Purpose
from connections_app.core.oauth import clients
from connections_app.core.oauth.models import AccountOAuthApp, OAuthFlow
from connections_app.core.tenancy.sealed_rows import SEALED_TABLES, SealedRow
from connections_app.core.vault import SealedPlace, Vault
from tests.conftest import World


def _key() -> str:
    return f"sk_test_{os.urandom(12).hex()}"


def seal_everything(db: Session, vault: Vault, world: World, per_workspace: int = 4) -> dict:
    """place → plaintext for connection secrets (live and test, two fields), OAuth flows,
    the installation's OAuth client and each account's OAuth app."""
    expected: dict[SealedPlace, str] = {}
    admins = {
        world.ws1: world.actors["admin1"],
        world.ws2: world.actors["admin2"],
        world.other_ws: world.actors["foreign_admin"],
    }
    for ws_id, actor in admins.items():
        for n in range(per_workspace):
            live, test, extra = _key(), _key(), _key()
            view = service.create(
                db,
                actor=actor,
                app="stripe",
                kind="api_key",
                label=f"Sealed {ws_id[:4]} {n} {os.urandom(2).hex()}",
                fields={"secret_key": live},
                vault=vault,
            )
            conn = db.get(Connection, view.id)
            assert conn is not None
            secret_rows.store(db, vault, conn, {"secret_key": test}, Purpose.TEST)
            secret_rows.store(db, vault, conn, {"webhook_secret": extra}, Purpose.LIVE)
            db.commit()
            expected[secret_rows.place_of(conn, Purpose.LIVE, "secret_key")] = live
            expected[secret_rows.place_of(conn, Purpose.TEST, "secret_key")] = test
            expected[secret_rows.place_of(conn, Purpose.LIVE, "webhook_secret")] = extra
        flow_id = os.urandom(16).hex()
        verifier = _key()
        sealed = vault.encrypt(db, place=SealedPlace.oauth_flow(ws_id, flow_id), plaintext=verifier)
        db.add(
            OAuthFlow(
                id=flow_id,
                session_hash=os.urandom(16).hex(),
                account_id=actor.account_id,
                workspace_id=ws_id,
                user_id=actor.user_id,
                app="github",
                redirect_uri="http://127.0.0.1/cb",
                verifier_key_version=sealed.key_version,
                verifier_nonce=sealed.nonce,
                verifier_ciphertext=sealed.ciphertext,
                expires_at=utcnow() + timedelta(minutes=10),
            )
        )
        expected[SealedPlace.oauth_flow(ws_id, flow_id)] = verifier
    client_secret = _key()
    clients.set_client(
        db, vault=vault, app="github", client_id="drill", client_secret=client_secret
    )
    expected[SealedPlace.oauth_client("github")] = client_secret
    for account_id in (world.account_id, world.other_account_id):
        app_id = os.urandom(8).hex()
        secret = _key()
        sealed = vault.encrypt(
            db, place=SealedPlace.account_oauth_app(account_id, app_id), plaintext=secret
        )
        db.add(
            AccountOAuthApp(
                id=app_id,
                account_id=account_id,
                app="github",
                slot=f"drill-{app_id}",
                name="Drill",
                client_id="drill",
                secret_key_version=sealed.key_version,
                secret_nonce=sealed.nonce,
                secret_ciphertext=sealed.ciphertext,
            )
        )
        expected[SealedPlace.account_oauth_app(account_id, app_id)] = secret
    db.commit()
    return expected


def all_sealed(db: Session) -> list[SealedRow]:
    """Every sealed value in the database, as stored (the drills' own read of the tables)."""
    found = []
    for table in SEALED_TABLES:
        for row in db.exec(select(table.model)).all():
            if getattr(row, table.ciphertext) is None:
                continue
            found.append(SealedRow.of(table, row))
    return found
