"""The run-time apply path (F30, invariant 4): the only code that opens stored secrets.

A secret is decrypted just before the request that needs it, applied as the
catalog says, and dropped when the function returns. Nothing here logs, and
no message built here contains a URL (a query-string credential would leak).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import bindparam
from sqlmodel import Session, select

from connections_app.core import audit, tenancy
from connections_app.core.audit import Action
from connections_app.core.catalog import AppDefinition, AuthMethod, get_catalog
from connections_app.core.catalog.apply import apply_credential, build_test_request
from connections_app.core.clock import utcnow
from connections_app.core.connections.models import (
    Connection,
    ConnectionSecret,
    Kind,
    Purpose,
    Status,
)
from connections_app.core.connections.views import TestResult
from connections_app.core.errors import DomainError
from connections_app.core.oauth import tokens
from connections_app.core.tenancy import Actor, Op
from connections_app.core.vault import Sealed, Vault, get_vault

TEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class ConnectionUnavailable(DomainError):
    """The connection exists but cannot authenticate right now (revoked, broken, pending)."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


# Built once: four plain columns, not ORM rows (this runs before every outgoing call).
_SECRET_ROWS = select(
    ConnectionSecret.field,
    ConnectionSecret.key_version,
    ConnectionSecret.nonce,
    ConnectionSecret.ciphertext,
).where(
    ConnectionSecret.connection_id == bindparam("connection_id"),
    ConnectionSecret.purpose == bindparam("purpose"),
)


def _open_secrets(db: Session, vault: Vault, conn: Connection, purpose: Purpose) -> dict[str, str]:
    rows = db.exec(_SECRET_ROWS, params={"connection_id": conn.id, "purpose": str(purpose)}).all()
    return {
        field: vault.decrypt(
            db,
            tenant_id=conn.tenant_id,
            connection_id=conn.id,
            field=f"{purpose}:{field}",
            sealed=Sealed(key_version, nonce, ciphertext),
        )
        for field, key_version, nonce, ciphertext in rows
    }


@contextmanager
def _client(client: httpx.Client | None) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    with httpx.Client(timeout=TEST_TIMEOUT, follow_redirects=False) as own:
        yield own


def _host(url: httpx.URL | str) -> str:
    return urlsplit(str(url)).hostname or "the service"


def _classify(app: AppDefinition, response: httpx.Response, ok_status: list[int]) -> TestResult:
    code = response.status_code
    if code in ok_status:
        return TestResult(
            True, "valid", f"Credentials are valid and {app.name} is reachable.", code
        )
    if code in (401, 403):
        return TestResult(
            False,
            "invalid_credentials",
            f"{app.name} rejected the credentials (HTTP {code}).",
            code,
        )
    if code >= 500:
        return TestResult(
            False,
            "unreachable",
            f"{app.name} is reachable but failing (HTTP {code}). Try again later.",
            code,
        )
    hint = " Check the account details such as the subdomain." if code == 404 else ""
    return TestResult(
        False, "unexpected_response", f"{app.name} answered with HTTP {code}.{hint}", code
    )


def _network_failure(app: AppDefinition, err: httpx.HTTPError, host: str) -> TestResult:
    if isinstance(err, httpx.TimeoutException):
        what = "timed out"
    elif isinstance(err, httpx.ConnectError):
        what = "could not connect"
    else:
        what = f"failed ({type(err).__name__})"
    return TestResult(
        False, "unreachable", f"{app.name} is unreachable: the request to {host} {what}."
    )


def _test_dsn(app: AppDefinition, dsn: str) -> TestResult:
    import psycopg

    started = time.monotonic()
    try:
        with psycopg.connect(dsn, connect_timeout=5) as pg, pg.cursor() as cur:
            cur.execute("select 1")
            cur.fetchone()
    except psycopg.OperationalError as err:
        text = str(err).lower()
        if "password" in text or "authentication" in text or "role" in text:
            return TestResult(False, "invalid_credentials", f"{app.name} rejected the credentials.")
        if "does not exist" in text:
            return TestResult(
                False, "unexpected_response", f"{app.name}: the database does not exist."
            )
        return TestResult(False, "unreachable", f"{app.name} is unreachable (connection failed).")
    except (psycopg.Error, ValueError):
        return TestResult(False, "invalid_input", "The connection string is not valid.")
    elapsed = int((time.monotonic() - started) * 1000)
    return TestResult(
        True, "valid", f"Credentials are valid and {app.name} is reachable.", None, elapsed
    )


def test_values(
    app: AppDefinition,
    method: AuthMethod,
    config: Mapping[str, str],
    secrets: Mapping[str, str],
    *,
    client: httpx.Client | None = None,
) -> TestResult:
    """Run the catalog's test for a credential held only for the length of this call."""
    if method.kind == Kind.DSN:
        dsn = next(iter(secrets.values()), "")
        return _test_dsn(app, dsn)
    try:
        request = build_test_request(app, method, config, secrets)
    except DomainError as err:
        return TestResult(False, "invalid_input", str(err))
    host = _host(request.url)
    ok_status = list(app.test_request.ok_status) if app.test_request else [200]
    started = time.monotonic()
    try:
        with _client(client) as http:
            response = http.send(request)
            response.read()
    except httpx.HTTPError as err:
        return _network_failure(app, err, host)
    result = _classify(app, response, ok_status)
    elapsed = int((time.monotonic() - started) * 1000)
    return TestResult(result.ok, result.outcome, result.message, result.http_status, elapsed)


def test_stored(
    db: Session,
    *,
    conn: Connection,
    purpose: Purpose,
    vault: Vault,
    client: httpx.Client | None = None,
) -> TestResult:
    """Test a stored credential; the caller has already authorised the actor."""
    if conn.kind == Kind.OAUTH2:
        conn = tokens.ensure_fresh(db, conn, vault=vault)
    app = get_catalog().get(conn.app)
    method = app.auth_method(conn.kind)
    secrets = _open_secrets(db, vault, conn, purpose)
    try:
        return test_values(app, method, conn.config, secrets, client=client)
    finally:
        secrets.clear()


def send(
    db: Session,
    *,
    actor: Actor,
    connection_id: Any,
    request: httpx.Request,
    client: httpx.Client,
    purpose: Purpose = Purpose.LIVE,
    vault: Vault | None = None,
) -> httpx.Response:
    """Make one authenticated call through a connection and record the use (F30)."""
    conn = tenancy.get_connection(db, actor, connection_id)
    tenancy.ensure(actor, Op.USE, conn)
    if conn.status != Status.ACTIVE:
        raise ConnectionUnavailable(
            f"The connection “{conn.label}” is {conn.status}"
            + (f": {conn.status_reason}" if conn.status_reason else "."),
            status=conn.status,
        )
    vault = vault or get_vault()
    if conn.kind == Kind.OAUTH2:
        conn = tokens.ensure_fresh(db, conn, vault=vault)
        if conn.status != Status.ACTIVE:  # the on-demand refresh was refused for good
            raise ConnectionUnavailable(
                f"The connection “{conn.label}” needs to be reconnected"
                + (f": {conn.status_reason}" if conn.status_reason else "."),
                status=conn.status,
            )
    app = get_catalog().get(conn.app)
    method = app.auth_method(conn.kind)
    ok = False
    try:
        response = _send_once(db, vault, conn, method, purpose, request, client)
        if (
            response.status_code == 401
            and conn.kind == Kind.OAUTH2
            and conn.token_expires_at is None
            and purpose == Purpose.LIVE
        ):
            # Expiry unknown (no expires_in): refresh once on 401, then give up loudly.
            outcome = tokens.refresh(db, conn.id, vault=vault, force=True)
            if outcome.result == "refreshed":
                conn = tenancy.connection_for_system(db, conn.id)
                response = _send_once(db, vault, conn, method, purpose, request, client)
            if response.status_code == 401:
                tokens.mark_needs_reauthorization(
                    db, conn.id, f"{app.name} rejected the token after a refresh."
                )
        ok = response.status_code < 400
        return response
    finally:
        record_use(db, actor=actor, conn=conn, ok=ok)


def _send_once(
    db: Session,
    vault: Vault,
    conn: Connection,
    method: Any,
    purpose: Purpose,
    request: httpx.Request,
    client: httpx.Client,
) -> httpx.Response:
    authorize(db, vault=vault, conn=conn, method=method, purpose=purpose, request=request)
    return client.send(request)


def authorize(
    db: Session,
    *,
    vault: Vault,
    conn: Connection,
    method: AuthMethod,
    purpose: Purpose,
    request: httpx.Request,
) -> None:
    """Decrypt this connection's secrets, put them on `request`, and drop them (F30).

    The caller has already resolved `conn` through tenancy and checked the actor.
    """
    secrets = _open_secrets(db, vault, conn, purpose)
    try:
        apply_credential(request, method, conn.config, secrets)
    finally:
        secrets.clear()


def record_use(db: Session, *, actor: Actor, conn: Connection, ok: bool) -> None:
    """Last used, use count and one `used` audit event, in one transaction."""
    now = utcnow()
    conn.last_used_at = now
    conn.use_count += 1
    if ok:
        conn.last_success_at = now
    db.add(conn)
    audit.record_for_connection(
        db,
        conn,
        Action.USED,
        actor_id=actor.user_id,
        actor_label=actor.label,
        workspace_id=actor.workspace_id,
        outcome="success" if ok else "failure",
    )
    db.commit()
