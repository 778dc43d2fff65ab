"""The run-time apply path (F30, invariant 4): the only code that opens stored secrets.

A secret is decrypted just before the request that needs it, applied as the
catalog says, and dropped when the function returns. Four rules hold here for
every request made with a connection (Test and run steps alike):

- **Bound to its destination.** A secret row opens only while the connection
  still has the destination it was sealed for (`destination.fingerprint`), and a
  request carrying it must go to the connection's own origin.
- **Fail closed.** A missing, foreign-destination or unreadable secret stops the
  request before anything is sent; the connection shows why and the event is
  audited. Nothing is ever sent with an empty credential.
- **No transaction across the call.** What the request needs is read, the
  transaction is ended, the request is sent, and the outcome is written in a new
  short transaction: a slow provider never holds the database's write lock.
- **Nothing sent comes back.** The answer is read up to a bound and every
  spelling of what the credential put on the request is masked (`masking`)
  before a caller can store, log or show it. Request headers are never kept.

Requests leave through `egress.client()`: the destination policy is checked on
every connect and redirect. Nothing here logs, and no message contains a URL (a
query-string credential would leak).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlmodel import Session

from connections_app.core import audit, egress, guard
from connections_app.core.audit import Action
from connections_app.core.catalog import AppDefinition, AuthMethod, get_catalog
from connections_app.core.catalog.apply import apply_parts, build_test_request, credential_parts
from connections_app.core.clock import utcnow
from connections_app.core.connections import destination, lifecycle, tokens
from connections_app.core.connections.masking import Masker
from connections_app.core.connections.models import (
    Connection,
    Kind,
    Purpose,
    Status,
)
from connections_app.core.connections.views import TestResult
from connections_app.core.errors import DomainError
from connections_app.core.oauth import provider
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.tenancy import policy
from connections_app.core.tenancy.actor import Actor
from connections_app.core.tenancy.connections import UseFacts
from connections_app.core.tenancy.policy import Op
from connections_app.core.vault import Sealed, SealedPlace, Vault, VaultError, get_vault

TEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_ANSWER_BYTES = 64 * 1024  # read at most this much of any answer
ANSWER_LIMIT = 2000  # characters of an answer kept for people to read


class ConnectionUnavailable(DomainError):
    """The connection exists but cannot authenticate right now (revoked, broken, pending)."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


class CredentialUnavailable(ConnectionUnavailable):
    """The stored credential is missing, was entered for another destination, or does
    not decrypt: nothing is sent, and the connection says why."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, status=Status.ERROR)
        self.reason = reason


@dataclass(frozen=True)
class Reply:
    """What a provider answered, safe to store: status, and the masked, bounded answer."""

    status_code: int
    answer: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False
    # The whole masked JSON answer (read up to MAX_ANSWER_BYTES), never stored: what
    # the provider reports about the call (a model's token usage) may lie past the
    # trimmed `answer`.
    data: Any = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status_code < 400


_NONE = "No credential is stored for “{label}”. {fix}"
_ELSEWHERE = (
    "The stored credential of “{label}” was entered for another destination, so it is "
    "not sent here. {fix}"
)
_INCOMPLETE = "The stored credential of “{label}” is incomplete. {fix}"
_UNREADABLE = (
    "The stored credential of “{label}” could not be decrypted (it may have been "
    "tampered with). {fix}"
)


def _fix(conn: Connection | UseFacts) -> str:
    if conn.kind == Kind.OAUTH2:
        return "Reconnect it to authorize again."
    return "Enter it with Rotate."


def required_fields(method: AuthMethod) -> list[str]:
    if method.kind == Kind.OAUTH2:
        return [provider.ACCESS]
    return [f.name for f in method.secret_fields if f.required]


def _open_secrets(
    db: Session, vault: Vault, conn: Connection, method: AuthMethod, purpose: Purpose
) -> dict[str, str]:
    """Decrypt the rows this request needs, or refuse without sending anything."""
    rows = connection_scope.sealed_fields(db, conn, purpose)
    return _open_rows(db, vault, conn, method, purpose, rows)


def _open_rows(
    db: Session,
    vault: Vault,
    conn: Connection | UseFacts,
    method: AuthMethod,
    purpose: Purpose,
    rows: list[Any],
    bound: str | None = None,
    required: tuple[str, ...] | None = None,
) -> dict[str, str]:
    """Decrypt sealed rows already read (field, key version, nonce, ciphertext,
    destination), or refuse without sending anything. `bound`: the connection's
    destination fingerprint, when the caller has it."""
    if bound is None:
        bound = destination.fingerprint(conn.app, method, conn.config)
    opened: dict[str, str] = {}
    elsewhere = False
    try:
        for name, key_version, nonce, ciphertext, sealed_for in rows:
            if sealed_for != bound:
                elsewhere = True
                continue  # sealed for another destination: never sent to this one
            opened[name] = vault.decrypt(
                db,
                place=SealedPlace.connection_secret(conn.tenant_id, conn.id, str(purpose), name),
                sealed=Sealed(key_version, nonce, ciphertext),
            )
    except VaultError:
        opened.clear()
        raise CredentialUnavailable(
            _UNREADABLE.format(label=conn.label, fix=_fix(conn)), reason="unreadable"
        ) from None
    if any(not opened.get(name) for name in required or required_fields(method)):
        opened.clear()
        template, reason = (
            (_ELSEWHERE, "other_destination")
            if elsewhere
            else (_INCOMPLETE, "incomplete")
            if rows
            else (_NONE, "missing")
        )
        raise CredentialUnavailable(
            template.format(label=conn.label, fix=_fix(conn)), reason=reason
        )
    return opened


_DEFAULT_PORTS = {"http": 80, "https": 443}


@lru_cache(maxsize=4096)
def _origin_of_text(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        return ("", "", None)
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def _check_destination(
    app: AppDefinition, conn: Connection | UseFacts, request: httpx.Request
) -> None:
    """A credential goes only to its connection's own origin (scheme, host and port)."""
    _check_origin(_origin_of_text(app.resolve_base_url(conn.config)), conn, request)


def _check_origin(
    expected: tuple[str, str, int | None], conn: Connection | UseFacts, request: httpx.Request
) -> None:
    url = request.url
    actual = (url.scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme))
    if not expected[1] or actual != expected:
        raise DomainError(
            f"This request would leave “{conn.label}”'s own service; nothing was sent."
        )


def _ready(
    method: AuthMethod,
    config: Mapping[str, Any],
    secrets: dict[str, str],
    references: frozenset[str] | None = None,
) -> tuple[dict[str, str], list[tuple[str, str]], Masker]:
    """The credential's header and query values, and what must be masked in the answer:
    every secret value and every value the credential application produces."""
    try:
        masker = Masker(secrets.values())
        headers, query = credential_parts(method, config, secrets, references=references)
    finally:
        secrets.clear()
    for value in headers.values():
        masker.add(value)
        masker.add(value.split(" ", 1)[-1])  # the part after "Bearer " / "Basic "
    for _name, value in query:
        masker.add(value)
    return headers, query, masker


def authorize(
    db: Session,
    *,
    vault: Vault,
    conn: Connection,
    method: AuthMethod,
    purpose: Purpose,
    request: httpx.Request,
) -> Masker:
    """Decrypt this connection's secrets, put them on `request`, and drop them (F30).

    Returns what must be masked in the answer. The caller has already resolved
    `conn` through tenancy and checked the actor.
    """
    app = get_catalog().get(conn.app)
    _check_destination(app, conn, request)
    secrets = _open_secrets(db, vault, conn, method, purpose)
    headers, query, masker = _ready(method, conn.config, secrets)
    apply_parts(request, headers, query)
    return masker


# --- resolve: from a connection id to the ready credential ---------------------------


@dataclass(frozen=True)
class Found:
    """A connection found on the use path, with its sealed rows of one purpose (one
    select), not yet opened."""

    conn: UseFacts
    purpose: Purpose
    sealed: list[Any] = field(repr=False)


class Credential:
    """A resolved credential: the header and query values to put on one request, the
    origin they may go to, and the masker for the answer. Holds secret values until
    `apply` hands them to the request; never printed."""

    __slots__ = ("_expected", "_headers", "_query", "conn", "masker", "method")

    def __init__(
        self,
        conn: UseFacts,
        method: AuthMethod,
        expected: tuple[str, str, int | None],
        headers: dict[str, str],
        query: list[tuple[str, str]],
        masker: Masker,
    ) -> None:
        self.conn, self.method, self.masker = conn, method, masker
        self._expected, self._headers, self._query = expected, headers, query

    def __repr__(self) -> str:
        return f"Credential(connection={self.conn.id}, headers={sorted(self._headers)})"

    @property
    def header_names(self) -> list[str]:
        return list(self._headers)

    def apply(self, request: httpx.Request) -> None:
        """Put the credential on `request` (its origin must be the connection's), once."""
        _check_origin(self._expected, self.conn, request)
        apply_parts(request, self._headers, self._query)
        self.drop()

    def drop(self) -> None:
        self._headers.clear()
        self._query.clear()


def lookup(db: Session, actor: Actor, connection_id: Any, purpose: Purpose) -> Found:
    """The connection and its sealed rows, in one select in the caller's open transaction
    (through tenancy: invisible ≡ absent)."""
    conn, sealed = connection_scope.resolve_for_use(db, actor, connection_id, purpose)
    return Found(conn, purpose, sealed)


def ensure_use(db: Session, actor: Actor, conn: UseFacts) -> None:
    """USE on a found connection, or the refusal recorded (`guard`) and raised."""
    if not policy.check(actor, Op.USE, conn):
        raise guard.refuse(
            db, actor, policy.refusal_message(Op.USE), what=str(Op.USE), connection=conn
        )


@dataclass(frozen=True)
class _Plan:
    """What a credential of one configuration needs besides its secrets, worked out once
    per (catalog, app, kind, configuration): nothing here is secret."""

    method: AuthMethod
    fingerprint: str
    expected: tuple[str, str, int | None]
    required: tuple[str, ...]
    references: frozenset[str]


# The catalog the plans were worked out from, and the plans: a new catalog (reloaded
# with other overrides) starts afresh. Holding the catalog keeps its identity unique.
_plans_of: list[Any] = [None, {}]


def _plan(conn: UseFacts) -> _Plan:
    catalog = get_catalog()
    if _plans_of[0] is not catalog:
        _plans_of[:] = [catalog, {}]
    _plans: dict[tuple[Any, ...], _Plan] = _plans_of[1]
    key = (conn.app, conn.kind, tuple(sorted(conn.config.items())))
    try:
        plan = _plans.get(key)
    except TypeError:  # a configuration with nested values: worked out every time
        key, plan = None, None
    if plan is None:
        app = catalog.get(conn.app)
        method = app.auth_method(conn.kind)
        plan = _Plan(
            method,
            destination.fingerprint(conn.app, method, conn.config),
            _origin_of_text(app.resolve_base_url(conn.config)),
            tuple(required_fields(method)),
            frozenset(method.effective_apply.references()),
        )
        if key is not None:
            if len(_plans) >= 4096:
                _plans.clear()
            _plans[key] = plan
    return plan


def open_credential(db: Session, vault: Vault, found: Found) -> Credential:
    """Decrypt the found rows and work out the header values (nothing is sent)."""
    conn = found.conn
    plan = _plan(conn)
    secrets = _open_rows(
        db, vault, conn, plan.method, found.purpose, found.sealed, plan.fingerprint, plan.required
    )
    headers, query, masker = _ready(plan.method, conn.config, secrets, plan.references)
    return Credential(conn, plan.method, plan.expected, headers, query, masker)


def resolve(
    db: Session, *, actor: Actor, connection_id: Any, purpose: Purpose, vault: Vault
) -> Credential:
    """From a connection id to the ready credential: scoped lookup with its sealed rows,
    USE, the status, decrypt, header values. What `send` does before the request."""
    found = lookup(db, actor, connection_id, purpose)
    ensure_use(db, actor, found.conn)
    _ensure_active(found.conn)
    return open_credential(db, vault, found)


def _ensure_active(conn: UseFacts) -> None:
    if conn.status != Status.ACTIVE:
        raise ConnectionUnavailable(
            f"The connection “{conn.label}” is {conn.status}"
            + (f": {conn.status_reason}" if conn.status_reason else "."),
            status=conn.status,
        )


def needs_refresh(conn: UseFacts) -> bool:
    """An OAuth access token that is (about to be) expired: `tokens.ensure_fresh` first."""
    expires = conn.token_expires_at
    if conn.kind != Kind.OAUTH2 or expires is None:
        return False
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return datetime.now(UTC) >= expires - timedelta(seconds=30)


def refreshed(db: Session, actor: Actor, found: Found, vault: Vault) -> Found:
    """Refresh an expiring token on demand (outside the read: it writes), then find the
    connection again. Raises ConnectionUnavailable when the refresh was refused for good."""
    db.commit()
    current = connection_scope.connection_for_system(db, found.conn.id)
    current = tokens.ensure_fresh(db, current, vault=vault)
    if current.status != Status.ACTIVE:
        raise ConnectionUnavailable(
            f"The connection “{current.label}” needs to be reconnected"
            + (f": {current.status_reason}" if current.status_reason else "."),
            status=current.status,
        )
    db.commit()
    return lookup(db, actor, found.conn.id, found.purpose)


# --- answers -------------------------------------------------------------------------


def _read_bounded(response: httpx.Response) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            return b"".join(chunks)[:MAX_ANSWER_BYTES], True
    return b"".join(chunks), False


def _masked_answer(
    body: bytes, truncated: bool, masker: Masker
) -> tuple[dict[str, Any], bool, Any]:
    """(the answer to keep, whether it was trimmed, the whole masked JSON or None)."""
    text = body.decode("utf-8", errors="replace")
    data: Any = None
    if not truncated:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
    if data is not None:
        masked = masker.value(data)
        encoded = json.dumps(masked, ensure_ascii=False)
        if len(encoded) <= ANSWER_LIMIT:
            return (masked if isinstance(masked, dict) else {"value": masked}), False, masked
        return {"truncated": masker.tail(encoded[:ANSWER_LIMIT])}, True, masked
    text = masker.text(text)
    if len(text) > ANSWER_LIMIT or truncated:
        return {"truncated": masker.tail(text[:ANSWER_LIMIT])}, True, None
    return ({"text": text} if text else {}), False, None


@contextmanager
def _client(client: httpx.Client | None, timeout: httpx.Timeout) -> Iterator[httpx.Client]:
    if client is not None:
        if not egress.is_guarded(client):
            raise TypeError("requests made with connections go through egress.client()")
        yield client
        return
    with egress.client(timeout=timeout) as own:
        yield own


def _exchange(http: httpx.Client, request: httpx.Request, masker: Masker) -> Reply:
    response = http.send(request, stream=True)
    try:
        body, cut = _read_bounded(response)
    finally:
        response.close()
    answer, truncated, data = _masked_answer(body, cut, masker)
    return Reply(response.status_code, answer, truncated, data)


# --- test ----------------------------------------------------------------------------


def _host(url: httpx.URL | str) -> str:
    return httpx.URL(str(url)).host or "the service"


def _classify(app: AppDefinition, status: int, ok_status: list[int]) -> TestResult:
    if status in ok_status:
        return TestResult(
            True, "valid", f"Credentials are valid and {app.name} is reachable.", status
        )
    if status in (401, 403):
        return TestResult(
            False,
            "invalid_credentials",
            f"{app.name} rejected the credentials (HTTP {status}).",
            status,
        )
    if status >= 500:
        return TestResult(
            False,
            "unreachable",
            f"{app.name} is reachable but failing (HTTP {status}). Try again later.",
            status,
        )
    hint = " Check the account details such as the subdomain." if status == 404 else ""
    return TestResult(
        False, "unexpected_response", f"{app.name} answered with HTTP {status}.{hint}", status
    )


def _network_failure(app: AppDefinition, err: httpx.HTTPError, host: str) -> TestResult:
    refused = egress.describe(err)
    if refused is not None:
        return TestResult(False, "refused_destination", refused)
    if isinstance(err, httpx.TimeoutException):
        what = "timed out"
    elif isinstance(err, httpx.ConnectError):
        what = "could not connect"
    else:
        what = f"failed ({type(err).__name__})"
    return TestResult(
        False, "unreachable", f"{app.name} is unreachable: the request to {host} {what}."
    )


def _dsn_target(app: AppDefinition, dsn: str) -> tuple[dict[str, str], str] | TestResult:
    """The DSN's parameters with every host pinned to an address the egress policy
    checked (so a name cannot resolve elsewhere a moment later), or why not."""
    import psycopg.conninfo

    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return TestResult(False, "invalid_input", "The connection string is not valid.")
    hosts = [h for h in str(params.get("host") or "").split(",") if h]
    if not hosts or params.get("hostaddr"):
        return TestResult(
            False,
            "invalid_input",
            "The connection string must name its server's host (and no hostaddr).",
        )
    ports = [p for p in str(params.get("port") or "5432").split(",") if p]
    addresses: list[str] = []
    for index, host in enumerate(hosts):
        if host.startswith("/"):
            return TestResult(
                False, "refused_destination", "A connection string may not use a local socket."
            )
        port_text = ports[index] if index < len(ports) else ports[-1]
        if not port_text.isdigit():
            return TestResult(False, "invalid_input", "The connection string's port is invalid.")
        try:
            addresses.append(next(egress.guarded_addresses(host, int(port_text))))
        except egress.EgressRefused as err:
            return TestResult(False, "refused_destination", str(err))
        except httpx.ConnectError:
            return TestResult(False, "unreachable", f"{app.name}: {host} could not be resolved.")
    pinned = {k: str(v) for k, v in params.items() if v is not None}
    pinned["hostaddr"] = ",".join(addresses)
    params.clear()
    return pinned, hosts[0]


def _test_dsn(app: AppDefinition, dsn: str) -> TestResult:
    import psycopg

    target = _dsn_target(app, dsn)
    if isinstance(target, TestResult):
        return target
    params, host = target
    started = time.monotonic()
    try:
        with psycopg.connect(**params, connect_timeout=5) as pg, pg.cursor() as cur:
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
    finally:
        params.clear()
    elapsed = int((time.monotonic() - started) * 1000)
    return TestResult(
        True, "valid", f"Credentials are valid and {app.name} is reachable.", None, elapsed, host
    )


def test_values(
    app: AppDefinition,
    method: AuthMethod,
    config: Mapping[str, str],
    secrets: Mapping[str, str],
    *,
    client: httpx.Client | None = None,
) -> TestResult:
    """Run the catalog's test for a credential held only for the length of this call.

    The caller holds no database transaction: this makes the outgoing request.
    """
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
        with _client(client, TEST_TIMEOUT) as http:
            reply = _exchange(http, request, Masker(secrets.values()))
    except httpx.HTTPError as err:
        return _with_host(_network_failure(app, err, host), host)
    result = _classify(app, reply.status_code, ok_status)
    elapsed = int((time.monotonic() - started) * 1000)
    return TestResult(result.ok, result.outcome, result.message, result.http_status, elapsed, host)


def _with_host(result: TestResult, host: str) -> TestResult:
    return TestResult(
        result.ok, result.outcome, result.message, result.http_status, result.elapsed_ms, host
    )


def test_stored(
    db: Session,
    *,
    conn: Connection,
    purpose: Purpose,
    vault: Vault,
    client: httpx.Client | None = None,
) -> TestResult:
    """Test a stored credential; the caller has already authorised the actor.

    Ends the caller's transaction before the request (it must hold no pending
    writes); raises CredentialUnavailable, having sent nothing, when the credential
    cannot be used.
    """
    if conn.kind == Kind.OAUTH2:
        conn = tokens.ensure_fresh(db, conn, vault=vault)
    app = get_catalog().get(conn.app)
    method = app.auth_method(conn.kind)
    secrets = _open_secrets(db, vault, conn, method, purpose)
    db.commit()  # read what the call needs; no transaction stays open across it
    try:
        return test_values(app, method, conn.config, secrets, client=client)
    finally:
        secrets.clear()


# --- use -----------------------------------------------------------------------------


def send(
    db: Session,
    *,
    actor: Actor,
    connection_id: Any,
    request: httpx.Request,
    client: httpx.Client | None = None,
    purpose: Purpose = Purpose.LIVE,
    vault: Vault | None = None,
    timeout: httpx.Timeout = TEST_TIMEOUT,
) -> Reply:
    """Make one authenticated call through a connection and record the use (F30).

    The answer comes back masked and bounded. No transaction is open while the
    provider is called; the use is recorded afterwards in its own.
    """
    vault = vault or get_vault()
    found = lookup(db, actor, connection_id, purpose)
    ensure_use(db, actor, found.conn)
    _ensure_active(found.conn)
    if needs_refresh(found.conn):
        found = refreshed(db, actor, found, vault)
    return call(
        db, actor=actor, found=found, request=request, client=client, vault=vault, timeout=timeout
    )


def call(
    db: Session,
    *,
    actor: Actor,
    found: Found,
    request: httpx.Request,
    client: httpx.Client | None = None,
    vault: Vault | None = None,
    timeout: httpx.Timeout = TEST_TIMEOUT,
    credential: Credential | None = None,
    record: bool = True,
) -> Reply:
    """Send `request` with the found connection's credential (opened here unless the
    caller resolved it already), ending the caller's transaction first, then record
    the use (unless `record` is False: the caller records it in its own write, as a
    run step does with its result). The caller checked USE and the status."""
    vault = vault or get_vault()
    conn = found.conn
    ok = False
    try:
        with _client(client, timeout) as http:
            credential = credential or open_credential(db, vault, found)
            reply = _send_once(db, credential, request, http)
            if (
                reply.status_code == 401
                and conn.kind == Kind.OAUTH2
                and conn.token_expires_at is None
                and found.purpose == Purpose.LIVE
            ):
                # Expiry unknown (no expires_in): refresh once on 401, then give up loudly.
                app = get_catalog().get(conn.app)
                outcome = tokens.refresh(db, conn.id, vault=vault, force=True)
                if outcome.result == "refreshed":
                    again = lookup(db, actor, conn.id, found.purpose)
                    reply = _send_once(db, open_credential(db, vault, again), request, http)
                if reply.status_code == 401:
                    tokens.mark_needs_reauthorization(
                        db, conn.id, f"{app.name} rejected the token after a refresh."
                    )
        ok = reply.ok
        return reply
    except CredentialUnavailable as err:
        db.rollback()
        credential_unavailable(
            db, actor=actor, connection_id=conn.id, err=err, purpose=found.purpose
        )
        raise
    finally:
        if credential is not None:
            credential.drop()
        if db.in_transaction():
            db.rollback()
        if record:
            record_use(db, actor=actor, connection_id=conn.id, ok=ok, conn=conn)


def fail_closed(db: Session, *, actor: Actor, found: Found, err: CredentialUnavailable) -> None:
    """A credential that would not open for a call: shown and audited as `call` does,
    and the (failed) use recorded."""
    if db.in_transaction():
        db.rollback()
    credential_unavailable(
        db, actor=actor, connection_id=found.conn.id, err=err, purpose=found.purpose
    )
    record_use(db, actor=actor, connection_id=found.conn.id, ok=False)


def _send_once(
    db: Session, credential: Credential, request: httpx.Request, http: httpx.Client
) -> Reply:
    attempt = httpx.Request(
        request.method, request.url, headers=request.headers, content=request.content
    )
    credential.apply(attempt)
    db.commit()  # the secrets are on the request; the transaction ends before the call
    return _exchange(http, attempt, credential.masker)


def credential_unavailable(
    db: Session,
    *,
    actor: Actor | None,
    connection_id: str,
    err: CredentialUnavailable,
    purpose: Purpose = Purpose.LIVE,
) -> None:
    """Fail closed, visibly: the connection shows the reason (a broken test credential
    leaves the live status alone), the event is audited."""
    conn = connection_scope.connection_for_system(db, connection_id, for_update=True)
    live = purpose == Purpose.LIVE
    if live and conn.status not in (Status.REVOKED, Status.PENDING):
        lifecycle.mark_error(conn, str(err))
        conn.updated_at = utcnow()
        db.add(conn)
    audit.record_for_connection(
        db,
        conn,
        Action.CREDENTIAL_UNAVAILABLE,
        actor_id=actor.user_id if actor else None,
        actor_label=actor.label if actor else "system",
        workspace_id=actor.workspace_id if actor else None,
        outcome="failure",
        detail={"reason": err.reason, "purpose": str(purpose)},
    )
    db.commit()


def record_use(
    db: Session,
    *,
    actor: Actor,
    connection_id: str,
    ok: bool,
    conn: UseFacts | None = None,
    commit: bool = True,
) -> None:
    """Last used, use count and one `used` audit event, in one short transaction — or,
    with `commit=False`, in the caller's (a run step writes it with its result). The
    counters move in one UPDATE; `conn` saves reading the row for the audit event."""
    now = utcnow()
    connection_scope.count_use(db, connection_id, now=now, ok=ok)
    facts: Any = conn or connection_scope.connection_for_system(db, connection_id)
    # The chain append without the ORM (`audit.append`): every call made with a
    # connection writes this event, a run step's inside its closing write.
    audit.append_by(db, actor, facts, Action.USED, outcome="success" if ok else "failure")
    if commit:
        db.commit()
