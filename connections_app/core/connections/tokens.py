"""An OAuth connection's tokens: storing them on the row, refreshing once per expiry,
revoking. The provider calls themselves are `oauth.provider`'s; this module owns what
they do to the connection (its sealed rows, its status, its audit events).

Refresh is single-flight across processes (invariant 6). A refresher first
claims a lease on the row with one conditional UPDATE (only one process can win
it while it is unexpired), notes the row's `token_version`, calls the provider,
then writes the new tokens only if the row still carries its lease and that
version (the fencing check). The new refresh token is committed before the new
access token is used anywhere. The lease (60 s) is far longer than the provider
timeout (10 s), so a claim cannot lapse mid-call in a healthy process.

Failures are classified: timeouts, network errors and provider 5xx /
`temporarily_unavailable` are transient (jittered exponential back-off, retry, status
untouched); `invalid_grant` and friends are permanent (status `error`, reason, alert).
HTTP 429 is neither: the provider asked for quiet, so the connection waits out its
`Retry-After` with its failure count untouched, and the refresher pauses that provider.

At scale (`refresh_due`), one process refreshes on a bounded pool of threads, at most
`refresh_per_provider` at a time per provider, each call paced by that provider's
token bucket (`core/ratelimit.py`). Pacing happens after the lease is claimed and
before the provider call, and never waits longer than `MAX_PACED_WAIT`: the lease
must still outlast the call when the wait is over, or another process could claim
it and spend the same refresh token. A longer wait gives the lease back untouched.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from connections_app.core import audit, guard, ratelimit
from connections_app.core.audit import Action
from connections_app.core.catalog import get_catalog
from connections_app.core.catalog.models import AppDefinition
from connections_app.core.clock import utcnow
from connections_app.core.connections import lifecycle, secret_rows
from connections_app.core.connections.models import (
    Connection,
    ConnectionSecret,
    Kind,
    Purpose,
    Scope,
    Status,
)
from connections_app.core.errors import DomainError, Invalid, NotFound
from connections_app.core.oauth import apps, provider
from connections_app.core.oauth.provider import ACCESS, REFRESH, ProviderError, RateLimited
from connections_app.core.settings import get_settings
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.tenancy import leases
from connections_app.core.tenancy.actor import Actor
from connections_app.core.tenancy.policy import Op
from connections_app.core.vault import SealedPlace, Vault, VaultError, masked_tail

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_BACKOFF = timedelta(minutes=10)
# How long a claimed lease may wait for its provider's turn: the lease (60 s) still
# outlasts the provider call (10 s) with room to spare when the wait is over.
MAX_PACED_WAIT = 20.0
# A 429 without Retry-After: wait about this long (jittered) before asking again.
RATE_LIMITED_WAIT = 30.0
# Each read of due rows starts at a random one of the first this many pages.
DUE_SPREAD = 8


@dataclass(frozen=True)
class RefreshOutcome:
    # refreshed | skipped | transient | permanent | lost | rate_limited | deferred | error
    result: str
    message: str = ""
    retry_after: float | None = None  # rate_limited: seconds the provider asked for


# --- identity and storage -----------------------------------------------------------


def _secret_rows(db: Session, conn: Connection) -> dict[str, ConnectionSecret]:
    return secret_rows.rows(db, conn, Purpose.LIVE)


def lead_time() -> timedelta:
    return timedelta(seconds=get_settings().refresh_lead_seconds)


def store_token_response(
    db: Session, vault: Vault, conn: Connection, token: dict[str, Any], *, keep_refresh: bool
) -> None:
    """Seal a token response onto the row (caller commits).

    `keep_refresh`: a refresh answer without a refresh token keeps the old one (the
    provider does not rotate); a fresh authorization without one drops the old
    grant's token, and the connection will need reauthorization at expiry.
    """
    access = token.get(ACCESS)
    if not isinstance(access, str) or not access:
        raise ProviderError("The provider's answer held no access token.")
    machine = provider.is_client_credentials(get_catalog().get(conn.app))
    refresh = token.get(REFRESH)
    new_refresh = isinstance(refresh, str) and bool(refresh)
    rows = _secret_rows(db, conn)
    fields = {ACCESS: access, REFRESH: refresh} if new_refresh else {ACCESS: access}
    secret_rows.store(db, vault, conn, fields, Purpose.LIVE)
    if new_refresh or machine:  # machine: renewed with the app credentials instead
        has_refresh = True
    elif keep_refresh:
        has_refresh = REFRESH in rows
    else:
        if REFRESH in rows:
            db.delete(rows[REFRESH])
        has_refresh = False
    now = utcnow()
    expires_in = token.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        conn.token_expires_at = now + timedelta(seconds=int(expires_in))
        lead = min(lead_time(), timedelta(seconds=int(expires_in)) / 2)
        # Without a refresh token the "refresh" at expiry is what raises the alert.
        conn.next_refresh_at = conn.token_expires_at - (lead if has_refresh else timedelta(0))
    else:
        conn.token_expires_at = None  # unknown: refresh on the first 401 instead
        conn.next_refresh_at = None
    if not machine:  # a client-credentials connection shows its secret's tail instead
        conn.masked_tail = masked_tail(access)
    conn.secret_version += 1
    conn.token_version += 1
    conn.updated_at = now
    db.add(conn)


def _open(db: Session, vault: Vault, conn: Connection, name: str) -> str | None:
    """One token of the connection, if it was sealed for the connection's current
    destination (a token authorized for other endpoints is never sent to these)."""
    row = _secret_rows(db, conn).get(name)
    if row is None or row.destination != secret_rows.current_destination(conn):
        return None
    return secret_rows.open_row(db, vault, conn, row)


def _client_of(
    db: Session, vault: Vault, conn: Connection, definition: AppDefinition
) -> apps.Resolved:
    """The client a connection's tokens belong to: its account's OAuth app (a custom
    provider's connection names which), else the installation's registration."""
    named = (conn.config or {}).get("oauth_app_id")
    return apps.resolve(
        db,
        vault=vault,
        account_id=conn.account_id,
        definition=definition,
        oauth_app_id=named if isinstance(named, str) and named else None,
    )


# --- refresh ------------------------------------------------------------------------


def _release(db: Session, conn_id: str, owner: str, apply: Callable[[Connection], None]) -> bool:
    """Fenced write: only the lease holder may touch the row it claimed."""
    conn = connection_scope.connection_for_system(db, conn_id, for_update=True)
    if conn.refresh_lease_owner != owner:
        db.rollback()
        return False
    apply(conn)
    conn.refresh_lease_owner = None
    conn.refresh_lease_until = None
    db.add(conn)
    return True


def _audit(
    db: Session,
    conn: Connection | _Read,
    action: Action,
    outcome: str,
    detail: dict,
    actor: Actor | None = None,
) -> None:
    """Credited to the person who asked (Refresh now), else to the refresher."""
    if conn.scope == Scope.ACCOUNT:  # its workspaces' screens show it too
        row = conn if isinstance(conn, Connection) else _row_of(db, conn)
        lifecycle.signal_if_account(db, row)
    audit.record_for_connection(
        db,
        conn,
        action,
        actor_id=actor.user_id if actor else None,
        actor_label=actor.label if actor else "refresher",
        workspace_id=actor.workspace_id if actor else None,
        outcome=outcome,
        detail=detail,
    )


def refresh(
    db: Session,
    connection_id: str,
    *,
    vault: Vault,
    owner: str | None = None,
    force: bool = False,
    actor: Actor | None = None,
    pace: Callable[[], bool] | None = None,
) -> RefreshOutcome:
    """Refresh one connection if it is due (or `force`) and nobody else is at it.

    Three statements before the provider call, in the claim's own transaction (the
    lease, the row, its sealed rows; plus the client registration), committed before
    the call; one fenced transaction after it (see `_write_refreshed`).

    `actor`: the person who asked (already authorised by `refresh_now`), for the audit.
    `pace`: called once the lease is committed, before the provider call; it waits for
    the provider's turn and says False when that turn is too far off (or the refresher
    is stopping): the lease is then given back untouched."""
    owner = owner or secrets.token_hex(8)
    now = utcnow()
    version = leases.claim_refresh_lease(
        db, connection_id, owner=owner, now=now, until=now + LEASE, force=force, commit=False
    )
    if version is None:
        db.rollback()
        return RefreshOutcome("skipped", "Not due, or another refresher holds it.")
    conn = connection_scope.connection_for_system(db, connection_id)
    definition = get_catalog().get(conn.app)
    machine = provider.is_client_credentials(definition)
    rows = _secret_rows(db, conn)
    try:
        if machine:
            client_secret = _open_row(db, vault, conn, rows, "client_secret")
            client_id = str(conn.config.get("client_id", ""))
            db.commit()  # the lease is held; no transaction stays open across the call
            if not _paced(db, connection_id, owner, pace):
                return RefreshOutcome("deferred", "The provider's turn is not yet; left for later.")
            if not client_secret:  # fail closed: never ask for a token with an empty secret
                raise ProviderError(
                    f"The stored {definition.name} app credentials are missing; enter them again."
                )
            token = provider.fetch_client_credentials(definition, client_id, client_secret)
        else:
            refresh_token = _open_row(db, vault, conn, rows, REFRESH)
            if refresh_token is None:
                db.commit()
                raise ProviderError(
                    f"{definition.name} gave no refresh token; the access token expired. "
                    "Reconnect to keep it working."
                )
            # The account's OAuth app first, the installation's as the fallback: a
            # rotated client secret applies from this call on.
            resolved = _client_of(db, vault, conn, definition)
            read = _as_read(conn)
            db.commit()  # the lease and what the call needs; no transaction across it
            if not _paced(db, connection_id, owner, pace):
                return RefreshOutcome("deferred", "The provider's turn is not yet; left for later.")
            token = provider.refresh_tokens(
                resolved.settings,
                client_id=resolved.credentials.client_id,
                client_secret=resolved.credentials.client_secret or None,
                refresh=refresh_token,
            )
    except RateLimited as err:
        return _rate_limited(db, connection_id, owner, err, actor)
    except ProviderError as err:
        return _failed(db, connection_id, owner, err, actor)
    except VaultError:  # raised before the claim's commit: keep the lease to write the failure
        db.commit()
        reason = "The stored token could not be decrypted; reconnect it."
        return _failed(db, connection_id, owner, ProviderError(reason), actor)
    except NotFound as err:  # the installation's client registration is gone: back off
        db.commit()
        return _failed(db, connection_id, owner, ProviderError(str(err), permanent=False), actor)

    try:
        if machine:

            def apply(row: Connection) -> None:
                store_token_response(db, vault, row, token, keep_refresh=True)
                row.refresh_failures = 0
                _audit(db, row, Action.REFRESHED, "success", {"version": row.token_version}, actor)

            written = _release(db, connection_id, owner, apply)
        else:
            written = _write_refreshed(db, vault, read, version, owner, token, actor)
        if written:
            db.commit()
        else:
            db.rollback()
    finally:
        token.clear()
    if not written:
        log.warning("refresh of %s lost its lease; the result was discarded", connection_id)
        return RefreshOutcome("lost", "Another refresher took over.")
    return RefreshOutcome("refreshed")


@dataclass(frozen=True)
class _Read:
    """What the write after a refresh call needs of the row, read before the call: the
    session expires the row on commit, reading it again would cost a statement, and an
    ORM copy costs more than this (the refresher does it for every refresh)."""

    id: str
    account_id: str
    workspace_id: str | None
    tenant_id: str
    scope: str
    app: str
    label: str
    destination: str  # the fingerprint new sealed rows carry


def _as_read(conn: Connection) -> _Read:
    return _Read(
        id=conn.id,
        account_id=conn.account_id,
        workspace_id=conn.workspace_id,
        tenant_id=conn.tenant_id,
        scope=conn.scope,
        app=conn.app,
        label=conn.label,
        destination=secret_rows.current_destination(conn),
    )


def _row_of(db: Session, read: _Read) -> Connection:
    return connection_scope.connection_for_system(db, read.id)


def _open_row(
    db: Session, vault: Vault, conn: Connection, rows: dict[str, ConnectionSecret], name: str
) -> str | None:
    """`_open` on rows already read."""
    row = rows.get(name)
    if row is None or row.destination != secret_rows.current_destination(conn):
        return None
    return secret_rows.open_row(db, vault, conn, row)


def _paced(db: Session, connection_id: str, owner: str, pace: Callable[[], bool] | None) -> bool:
    """Wait for the provider's turn; when it is too far off, give the lease back."""
    if pace is None or pace():
        return True
    if _release(db, connection_id, owner, lambda _row: None):
        db.commit()
    return False


def _write_refreshed(
    db: Session,
    vault: Vault,
    conn: _Read,
    version: int,
    owner: str,
    token: dict[str, Any],
    actor: Actor | None,
) -> bool:
    """The fenced write of a refresh answer (authorization-code grants; caller commits):
    one UPDATE of the row, only while it carries this lease at the version claimed,
    then the sealed rows overwritten in place (both sealed with one key lookup), then
    the audit event. `conn` is the row as read before the call (`_as_read`).

    Same outcome as `store_token_response(keep_refresh=True)` for a connection that had
    a refresh token (it just used it): an answer without one keeps the old one."""
    access = token.get(ACCESS)
    if not isinstance(access, str) or not access:
        raise ProviderError("The provider's answer held no access token.")
    refresh = token.get(REFRESH)
    fields = {ACCESS: access}
    if isinstance(refresh, str) and refresh:
        fields[REFRESH] = refresh
    now = utcnow()
    values: dict[str, Any] = {
        "masked_tail": masked_tail(access),
        "updated_at": now,
        "refresh_failures": 0,
        "token_expires_at": None,  # unknown: refresh on the first 401 instead
        "next_refresh_at": None,
    }
    expires_in = token.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        values["token_expires_at"] = now + timedelta(seconds=int(expires_in))
        lead = min(lead_time(), timedelta(seconds=int(expires_in)) / 2)
        values["next_refresh_at"] = values["token_expires_at"] - lead  # it has a refresh token
    new_version = leases.finish_refresh(db, conn.id, owner=owner, version=version, values=values)
    if new_version is None:
        return False
    places = [
        (SealedPlace.connection_secret(conn.tenant_id, conn.id, Purpose.LIVE, n), value)
        for n, value in fields.items()
    ]
    sealed = dict(zip(fields, vault.encrypt_many(db, places), strict=True))
    if not leases.replace_secret_fields(
        db, conn.id, purpose=Purpose.LIVE, sealed=sealed, destination=conn.destination, at=now
    ):  # a row went meanwhile (a reconnect dropped it): seal them the long way
        row = connection_scope.connection_for_system(db, conn.id)
        secret_rows.store(db, vault, row, fields, Purpose.LIVE)
    _audit(db, conn, Action.REFRESHED, "success", {"version": new_version}, actor)
    return True


def _failed(
    db: Session,
    connection_id: str,
    owner: str,
    err: ProviderError,
    actor: Actor | None = None,
) -> RefreshOutcome:
    now = utcnow()
    became_error = False

    def apply(row: Connection) -> None:
        nonlocal became_error
        row.refresh_failures += 1
        if err.permanent:
            lifecycle.mark_error(row, str(err), stop_refresh=True)
            became_error = True
        else:
            seconds = ratelimit.backoff(
                row.refresh_failures,
                base=get_settings().refresh_backoff_seconds,
                cap=MAX_BACKOFF.total_seconds(),
            )
            row.next_refresh_at = now + timedelta(seconds=seconds)
        _audit(
            db,
            row,
            Action.REFRESH_FAILED,
            "failure",
            {"permanent": err.permanent, "reason": str(err)[:200]},
            actor,
        )

    if _release(db, connection_id, owner, apply):
        db.commit()  # the audit event signals the workspace (banner) on commit
    return RefreshOutcome("permanent" if err.permanent else "transient", str(err))


def _rate_limited(
    db: Session, connection_id: str, owner: str, err: RateLimited, actor: Actor | None = None
) -> RefreshOutcome:
    """429: the connection waits out the provider's Retry-After (so no process asks for it
    sooner), keeps its status and its failure count, and is retried then."""
    wait = err.retry_after
    if wait is None:
        wait = ratelimit.backoff(0, base=RATE_LIMITED_WAIT, cap=RATE_LIMITED_WAIT)
    now = utcnow()

    def apply(row: Connection) -> None:
        row.next_refresh_at = max(row.next_refresh_at or now, now + timedelta(seconds=wait))
        _audit(
            db,
            row,
            Action.REFRESH_FAILED,
            "failure",
            {"permanent": False, "reason": str(err)[:200], "retry_after": round(wait, 1)},
            actor,
        )

    if _release(db, connection_id, owner, apply):
        db.commit()
    return RefreshOutcome("rate_limited", str(err), retry_after=wait)


def new_pacer() -> ratelimit.Pacer:
    """A refresher process's pacing, from the settings; kept across its passes so that a
    provider's pause outlives the pass that heard of it."""
    return ratelimit.Pacer(get_settings().refresh_rate)


def _due_page(
    session_factory: Callable[[], Session],
    pacer: ratelimit.Pacer,
    size: int,
    seen: set[str],
) -> list[tuple[str, str]]:
    """Due rows this pass has not queued yet: a random one of the first `DUE_SPREAD`
    pages (several processes then mostly queue different rows instead of racing for
    the same leases), else the first page; empty when nothing new is due."""
    paused = pacer.paused()
    for offset in (secrets.randbelow(DUE_SPREAD) * size, 0):
        with session_factory() as db:
            due = connection_scope.oauth_due_for_refresh(
                db, now=utcnow(), limit=size, offset=offset, skip_apps=paused
            )
        fresh = [(cid, key) for cid, key in due if cid not in seen]
        if fresh or offset == 0:
            return fresh
    return []


def refresh_due(
    session_factory: Callable[[], Session],
    *,
    vault: Vault,
    owner: str,
    limit: int = 100,
    pacer: ratelimit.Pacer | None = None,
    concurrency: int | None = None,
    per_provider: int | None = None,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """One pass of the background refresher: every connection due now, each in its own
    session, on a pool of `concurrency` threads with at most `per_provider` calls to one
    provider at a time (defaults: the settings).

    Due rows are read `limit` at a time from a random one of the first pages, shuffled
    (processes reading the same rows would race for the same leases), and queued per
    provider. A provider that is paused
    (429) or whose next turn is further off than `MAX_PACED_WAIT` gets no more work in
    this pass: its rows stay due for the next one. `stop` ends the pass early: calls in
    flight finish and write, claimed leases not yet used are given back."""
    settings = get_settings()
    pacer = pacer or new_pacer()
    workers = max(1, concurrency or settings.refresh_concurrency)
    per_key = max(1, min(per_provider or settings.refresh_per_provider, workers))
    stop = stop or threading.Event()
    counts: Counter[str] = Counter()
    seen: set[str] = set()
    backlog: dict[str, deque[str]] = {}
    running: dict[Future[RefreshOutcome], str] = {}
    in_flight: Counter[str] = Counter()
    exhausted = False

    def one(connection_id: str, key: str) -> RefreshOutcome:
        def pace() -> bool:
            delay = pacer.reserve(key, max_wait=MAX_PACED_WAIT)
            if delay is None or stop.is_set():
                return False
            return not (delay > 0 and stop.wait(delay))

        with session_factory() as db:
            try:
                return refresh(db, connection_id, vault=vault, owner=owner, pace=pace)
            except DomainError as err:
                log.warning("refresh of %s failed: %s", connection_id, err)
                return RefreshOutcome("error")

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refresher")
    try:
        while True:
            if not exhausted and not stop.is_set() and sum(map(len, backlog.values())) < workers:
                fresh = _due_page(session_factory, pacer, max(limit, 2 * workers), seen)
                exhausted = not fresh
                random.shuffle(fresh)
                for cid, key in fresh:
                    seen.add(cid)
                    backlog.setdefault(key, deque()).append(cid)
            for key, queue in backlog.items():
                if queue and pacer.reserve_delay(key) > MAX_PACED_WAIT:
                    counts["deferred"] += len(queue)  # paused: its rows wait for a later pass
                    queue.clear()
            while not stop.is_set() and len(running) < workers:
                ready = [k for k, q in backlog.items() if q and in_flight[k] < per_key]
                if not ready:
                    break
                for key in ready:  # one per provider per round: no provider starves another
                    if len(running) >= workers:
                        break
                    future = pool.submit(one, backlog[key].popleft(), key)
                    running[future] = key
                    in_flight[key] += 1
            if not running:
                if stop.is_set() or (exhausted and not any(backlog.values())):
                    break
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                key = running.pop(future)
                in_flight[key] -= 1
                outcome = future.result()
                counts[outcome.result] += 1
                if outcome.result == "rate_limited" and outcome.retry_after is not None:
                    pacer.pause(key, outcome.retry_after)
    except BaseException:
        stop.set()  # Ctrl-C: what is in flight finishes, unused leases are given back
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return dict(counts)


def refresh_now(db: Session, *, actor: Actor, connection_id: Any, vault: Vault) -> RefreshOutcome:
    """ "Refresh now" from a details panel: allowed to whoever may rotate the connection,
    and audited as that person (not as the background refresher)."""
    conn = connection_scope.get_connection(db, actor, connection_id)
    guard.authorize(db, actor, Op.ROTATE, conn)
    if conn.kind != Kind.OAUTH2:
        raise Invalid("Only OAuth 2.0 connections have tokens to refresh.")
    if conn.status != Status.ACTIVE:
        raise Invalid("This connection needs to be reconnected first.")
    db.commit()
    return refresh(db, conn.id, vault=vault, force=True, actor=actor)


def ensure_fresh(
    db: Session, conn: Connection, *, vault: Vault, wait_seconds: float = 15.0
) -> Connection:
    """Run-time path: refresh on demand when the access token is (about to be) expired."""
    if conn.kind != Kind.OAUTH2 or conn.token_expires_at is None:
        return conn
    if utcnow() < conn.token_expires_at - timedelta(seconds=30):
        return conn
    start_version = conn.token_version
    deadline = time.monotonic() + wait_seconds
    while True:
        outcome = refresh(db, conn.id, vault=vault, force=True)
        current = connection_scope.connection_for_system(db, conn.id)
        db.refresh(current)
        if outcome.result != "skipped" or current.token_version != start_version:
            return current
        if time.monotonic() > deadline:
            return current
        time.sleep(0.2)  # someone else is refreshing it: wait for their write


# --- revoke -------------------------------------------------------------------------


def _provider_revoke(
    db: Session, vault: Vault, conn: Connection, definition: AppDefinition
) -> bool:
    """Tell the provider (best effort); the local revoke happens regardless."""
    hint = REFRESH if REFRESH in _secret_rows(db, conn) else ACCESS  # revoking it ends the grant
    try:
        token = _open(db, vault, conn, hint)
    except VaultError:
        return False
    if token is None:
        return False
    try:
        resolved = _client_of(db, vault, conn, definition)
    except (DomainError, VaultError):
        return False
    if not resolved.settings.revocation_url:
        return False
    db.commit()  # no transaction stays open across the provider call
    return provider.revoke_token(
        resolved.settings,
        client_id=resolved.credentials.client_id,
        client_secret=resolved.credentials.client_secret or None,
        token=token,
        hint=hint,
    )


@dataclass(frozen=True)
class Revoked:
    """What a revoke did, in the words the person who asked for it reads."""

    provider_confirmed: bool
    message: str


def revoke_consequence(kind: str, app_name: str) -> str:
    """What revoking will do, said before it is confirmed: a sign-in's tokens can be
    revoked at the provider; an entered credential (an API key, a password) only here,
    because the app issued it to the person, not to us."""
    if kind == Kind.OAUTH2:
        return (
            "The tokens are destroyed here and the provider is asked to revoke the grant. "
            "Nodes using it stop working until someone connects the account again."
        )
    return (
        "The stored credential is destroyed here and nothing can use it any more; nodes "
        f"using it stop working. It stays valid at {app_name} until you revoke it there."
    )


def revoke(db: Session, *, actor: Actor, connection_id: Any, vault: Vault) -> Revoked:
    """F23, F24: the credential destroyed, status `revoked`; for a sign-in the provider is
    told too. A revoked connection keeps its row (history, the nodes naming it) but no
    secret: nothing can bring it back except connecting again."""
    conn = connection_scope.get_connection(db, actor, connection_id)
    guard.authorize(db, actor, Op.REVOKE, conn)
    if conn.status == Status.REVOKED:
        raise Invalid("This connection is already revoked.")
    definition = get_catalog().get(conn.app)
    signed_in = conn.kind == Kind.OAUTH2
    confirmed = _provider_revoke(db, vault, conn, definition) if signed_in else False
    db.commit()
    conn = connection_scope.get_connection(db, actor, connection_id, for_update=True)
    for purpose in (Purpose.LIVE, Purpose.TEST):
        for row in secret_rows.rows(db, conn, purpose).values():
            db.delete(row)
    if not signed_in:
        conn.has_test_credentials = False
    lifecycle.mark_revoked(conn, by=actor.label)
    db.add(conn)
    lifecycle.signal_if_account(db, conn)
    detail: dict[str, Any] = {"provider_confirmed": confirmed}
    if not signed_in:
        detail["kind"] = str(conn.kind)
    audit.record_by(db, actor, conn, Action.REVOKED, detail=detail)
    db.commit()
    if not signed_in:
        message = f"Revoked. The credential is destroyed here; revoke it at {definition.name} too."
    elif confirmed:
        message = "Revoked. The provider confirmed; the tokens are destroyed."
    else:
        message = "Revoked here and the tokens are destroyed (the provider did not confirm)."
    return Revoked(confirmed, message)


def mark_needs_reauthorization(db: Session, connection_id: str, reason: str) -> None:
    """The provider keeps rejecting the token: status `error`, audited, alert raised."""
    conn = connection_scope.connection_for_system(db, connection_id, for_update=True)
    if conn.status != Status.ACTIVE:
        db.rollback()
        return
    lifecycle.mark_error(conn, reason, stop_refresh=True)
    db.add(conn)
    _audit(db, conn, Action.REFRESH_FAILED, "failure", {"permanent": True, "reason": reason[:200]})
    db.commit()
