"""Sign-in throttling: growing waits per client and per account, never a hard lock.

Why not lock an account after N failures: anyone who knows an email could then
lock its owner out, for free, from anywhere. Why not only per account: one
client could spray one guess at each of many emails without ever slowing down.
So failures are counted under three keys, in the database (several backend
workers must agree):

- **client**: the client's address. IPv4 as it is; IPv6 by its /64, because
  one host usually owns a whole /64 and would otherwise get a fresh key per
  request. After `CLIENT.free` failures each further failure makes the client
  wait longer before its next attempt is even looked at (1 s, 2 s, 4 s, …,
  `CLIENT.cap`). This is what slows down guessing across many emails.
- **account**: the normalized email, for known and unknown emails alike (the
  answers and the work are the same, so they do not tell which emails exist).
  The same growing waits after `ACCOUNT.free` failures, but capped short
  (`ACCOUNT.cap`): it slows down guessing one password from many clients,
  while whoever triggers it can keep the real person out for seconds at a
  time, never for minutes.
- **pair** (client × account): not a wait of its own. Only a client's first
  `PAIR_SHARE` failures against an account count for that account, so one
  client alone can never throttle an account for everyone else (its own key
  slows it down instead). A success forgives the pair's failures: they leave
  the client's count and the account's count starts again.

Counts start again after a quiet period without failures (`quiet`). A key that
must wait is answered at once, without any argon2 work and without counting the
attempt. An admitted attempt is counted as a failure *before* the password is
checked, in one locked transaction, so a burst of parallel requests cannot all
slip through a free slot; a success takes back what was counted.

Keys are stored as SHA-256 of their kind and value: an email typed into the form
is never stored in plain text. The hash of a guessable email is a pseudonym,
not a secret; rows are purged after their quiet period (`purge`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from connections_app.core.errors import Invalid
from connections_app.core.identity.models import SignInThrottle

UNKNOWN_CLIENT = "unknown"


@dataclass(frozen=True)
class Policy:
    """How one kind of key slows down: `free` failures, then waits from `base` doubling
    up to `cap` seconds; `quiet` without a failure and the count starts again."""

    free: int
    base_seconds: float
    cap_seconds: float
    quiet: timedelta

    def wait_after(self, failures: int) -> timedelta | None:
        """The wait a key must sit out after its `failures`-th failure (None: no wait)."""
        over = failures - self.free
        if over <= 0:
            return None
        seconds = min(self.cap_seconds, self.base_seconds * 2 ** min(over - 1, 32))
        return timedelta(seconds=seconds)


# One office behind one address shares the client key: five unexplained failures in
# a quarter of an hour cost nothing, the sixth a second, then 2, 4 … up to 5 minutes.
CLIENT = Policy(free=5, base_seconds=1, cap_seconds=300, quiet=timedelta(minutes=15))
# Ten failures (from at least four clients, see PAIR_SHARE) cost nothing; then
# 1, 2, 4, 8, 16, 30, 30 … seconds: at most ~2 guesses a minute at one password,
# and whoever keeps that going can hold the real person off for 30 s at most.
ACCOUNT = Policy(free=10, base_seconds=1, cap_seconds=30, quiet=timedelta(minutes=15))
PAIR_QUIET = timedelta(minutes=15)
PAIR_SHARE = 3
# Rows untouched for longer than this are forgotten by `purge`.
FORGET_AFTER = max(CLIENT.quiet, ACCOUNT.quiet, PAIR_QUIET)


class TooManyAttempts(Invalid):
    """A key must still wait: the attempt was not checked at all."""

    def __init__(self, seconds: int) -> None:
        super().__init__(retry_message(seconds))
        self.retry_after = seconds


def retry_message(seconds: int | None) -> str:
    """The one wording of the throttle message (the sign-in page rebuilds it from `wait`)."""
    if seconds is None or seconds < 1:
        return "Too many attempts. Try again in a moment."
    unit = "second" if seconds == 1 else "seconds"
    return f"Too many attempts. Try again in {seconds} {unit}."


def client_key(address: str | None) -> str:
    """The throttle's name for a client address: IPv4 as is, IPv6 by its /64.

    IPv4-mapped IPv6 addresses count as their IPv4 address. Anything that is not
    an IP address (a test client, a Unix socket) is kept, bounded, as it is; no
    address at all shares one key, which is the cautious choice.
    """
    if not address:
        return UNKNOWN_CLIENT
    text = address.strip()[:100]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return f"other:{text}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip), 64), strict=False))
    return str(ip)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(("sign-in-throttle-v1", *parts)).encode()).hexdigest()


@dataclass(frozen=True)
class Keys:
    client: str
    account: str
    pair: str

    @classmethod
    def of(cls, *, client: str, email: str) -> Keys:
        """`client` as from `client_key`, `email` already normalized."""
        return cls(
            client=_digest("client", client),
            account=_digest("account", email),
            pair=_digest("pair", client, email),
        )

    def kinds(self) -> dict[str, str]:
        return {self.client: "client", self.account: "account", self.pair: "pair"}


@dataclass(frozen=True)
class Admission:
    """An attempt that may be checked; it already counts as a failure."""

    keys: Keys
    client: str
    account_failures: int


def _lock(db: Session, keys: Keys, now: datetime) -> dict[str, SignInThrottle]:
    """Create the three rows if missing, then hold them (FOR UPDATE; on SQLite the
    transaction already holds the write lock) in key order, so workers never deadlock."""
    kinds = keys.kinds()
    values = [
        {"key": key, "kind": kinds[key], "failures": 0, "last_failure_at": now}
        for key in sorted(kinds)
    ]
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.execute(insert(SignInThrottle).values(values).on_conflict_do_nothing(index_elements=["key"]))
    rows = db.exec(
        select(SignInThrottle)
        .where(SignInThrottle.key.in_(sorted(kinds)))  # type: ignore[attr-defined]
        .order_by(SignInThrottle.key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {row.key: row for row in rows}


def _quiet_for(kind: str) -> timedelta:
    return {"client": CLIENT.quiet, "account": ACCOUNT.quiet}.get(kind, PAIR_QUIET)


def _start_again_if_quiet(row: SignInThrottle, now: datetime) -> None:
    if row.failures and row.last_failure_at <= now - _quiet_for(row.kind):
        row.failures = 0
        row.blocked_until = None


def _count_failure(row: SignInThrottle, policy: Policy, now: datetime) -> None:
    row.failures += 1
    row.last_failure_at = now
    wait = policy.wait_after(row.failures)
    row.blocked_until = now + wait if wait is not None else None


def admit(db: Session, *, client: str, email: str, now: datetime) -> Admission:
    """Let an attempt be checked, or raise TooManyAttempts without counting it.

    Commits: an admitted attempt counts as a failure from here on (see module doc).
    """
    keys = Keys.of(client=client, email=email)
    rows = _lock(db, keys, now)
    for row in rows.values():
        _start_again_if_quiet(row, now)
    client_row, account_row, pair_row = rows[keys.client], rows[keys.account], rows[keys.pair]
    waits = [
        row.blocked_until - now
        for row in (client_row, account_row)
        if row.blocked_until is not None and row.blocked_until > now
    ]
    if waits:
        db.rollback()  # a refused attempt writes nothing (not even the new rows)
        raise TooManyAttempts(max(1, math.ceil(max(waits).total_seconds())))
    _count_failure(client_row, CLIENT, now)
    pair_row.failures += 1
    pair_row.last_failure_at = now
    if pair_row.failures <= PAIR_SHARE:
        _count_failure(account_row, ACCOUNT, now)
    db.add_all([client_row, account_row, pair_row])
    db.commit()
    return Admission(keys=keys, client=client, account_failures=account_row.failures)


def forgive(db: Session, admission: Admission) -> None:
    """The password was right: take back this client's failures for this account.

    The client keeps its failures against *other* emails (signing in to one's own
    account must not reset a sprayer's count); the account starts again. Commits.
    """
    keys = admission.keys
    rows = db.exec(
        select(SignInThrottle)
        .where(SignInThrottle.key.in_(sorted(keys.kinds())))  # type: ignore[attr-defined]
        .order_by(SignInThrottle.key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    by_key = {row.key: row for row in rows}
    pair = by_key.get(keys.pair)
    forgiven = pair.failures if pair is not None else 1
    client = by_key.get(keys.client)
    if client is not None:
        client.failures = max(0, client.failures - forgiven)
        if CLIENT.wait_after(client.failures) is None:
            client.blocked_until = None
        db.add(client)
    account = by_key.get(keys.account)
    if account is not None:
        account.failures = 0
        account.blocked_until = None
        db.add(account)
    if pair is not None:
        db.delete(pair)
    db.commit()


def claim_audit_slot(db: Session, admission: Admission, *, now: datetime, every: timedelta) -> bool:
    """True at most once per `every` per account: failed sign-ins are audited, a flood
    of them is not. Part of the caller's transaction (the caller commits)."""
    row = db.exec(
        select(SignInThrottle)
        .where(SignInThrottle.key == admission.keys.account)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        return False
    if row.audited_at is not None and row.audited_at > now - every:
        return False
    row.audited_at = now
    db.add(row)
    return True


def purge(db: Session, *, now: datetime) -> int:
    """Forget keys with no failure for `FORGET_AFTER` and no wait left. Commits."""
    cutoff = now - FORGET_AFTER
    result = db.execute(
        delete(SignInThrottle).where(
            SignInThrottle.last_failure_at < cutoff,  # type: ignore[operator]
            or_(
                SignInThrottle.audited_at.is_(None),  # type: ignore[union-attr]
                SignInThrottle.audited_at < cutoff,  # type: ignore[operator]
            ),
            or_(
                SignInThrottle.blocked_until.is_(None),  # type: ignore[union-attr]
                SignInThrottle.blocked_until < now,  # type: ignore[operator]
            ),
        )
    )
    db.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
