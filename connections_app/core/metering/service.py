"""Metering of model calls made through granted account connections (F9, F25).

A run step through an account connection of a model-provider app is metered
against the grant of that connection in the run's workspace:

- **Before the call** `check_cap` reads the grant's cap and the month's spend
  fresh (nothing cached: a raised cap counts for the very next step). Spend at or
  over the cap refuses the step before anything is sent. On a capped grant a model
  without a price (catalog or account) is refused too: its calls could not be
  counted against the cap.
- **After a successful reply** `record` reads the usage the provider reports in
  its (masked) answer, prices it and adds cost and one call to the month's
  `grant_spend` row in ONE statement (`INSERT … ON CONFLICT DO UPDATE SET
  spent_micros = grant_spend.spent_micros + excluded.spent_micros`): the database
  adds, so several workers recording at once never lose an update.
- **Unpriced or unreadable usage**: a call whose answer carries no readable usage
  (on any grant), or whose model has no price on an uncapped grant, is counted as
  a call with cost 0 and logged (app and model name only); a price set later does
  not reprice it. The usage is read from the whole masked answer (`Reply.data`, up
  to runtime's 64 KiB read bound), not the 2,000-character copy the step keeps.

**The overshoot bound.** The check and the record are not one transaction (no lock
is held across a provider call), so calls admitted while the spend was still under
the cap can all land after it. With `C` the cap and `F` the set of steps of this
(connection, workspace) that were admitted (passed `check_cap`) but whose `record`
had not committed when the recorded spend first reached `C` — the crossing call
included — the month's spend ends below `C + Σ cost(F)`. Every step admitted later
sees the spend at or over `C` and is refused. `|F|` is at most the number of runs
executing a step on that grant at that moment (a run executes its steps one by
one), over all workers; so the overshoot is under `|F| × the dearest single call`.
A worker that dies between the provider's answer and its commit loses that call's
record (the provider was paid, the month was not charged): a crash undercounts,
never double-counts.

A call is charged to the UTC month in which its answer is recorded (a call that
straddles midnight at a month's end counts in the new month), and checked against
the month in which its step starts.

Money is in integer micro-dollars; a call costs `ceil((in·in_price +
out·out_price) / 1e6)` micro-dollars with prices per million tokens, so no float
ever rounds a month's sum. Caps stay in cents on the grant.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from connections_app.core import alerts
from connections_app.core.catalog import get_catalog
from connections_app.core.catalog.models import AppDefinition, MeteringSpec
from connections_app.core.clock import utcnow
from connections_app.core.connections.models import Connection, Scope
from connections_app.core.errors import DomainError
from connections_app.core.tenancy import grants as grant_scope
from connections_app.core.tenancy import metering as spend_scope

log = logging.getLogger(__name__)

MICROS_PER_CENT = 10_000
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")
MAX_TOKENS = 10**9  # more than any answer reports; a larger count is not believed


class SpendRefused(DomainError):
    """The step may not call the provider: its grant's cap is reached, or its model has
    no price on a capped grant. `reason` is "cap" or "unpriced"."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Usage:
    """What the provider reported for one call."""

    model: str | None
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Price:
    """Micro-dollars per million input/output tokens, and where the price came from."""

    input: int
    output: int
    source: str  # "catalog" or "account"
    model: str  # the price table's entry that matched


@dataclass(frozen=True)
class MonthSpend:
    spent_micros: int
    calls: int


# --- pure parts ---------------------------------------------------------------------


def month_key(at: datetime | None = None) -> str:
    """The UTC calendar month of `at` ("YYYY-MM"); a naive datetime is taken as UTC."""
    moment = at or utcnow()
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return f"{moment.year:04d}-{moment.month:02d}"


def cost_micros(usage: Usage, price: Price) -> int:
    """ceil((in·in_price + out·out_price) / 1e6): integer arithmetic, rounded up."""
    total = usage.input_tokens * price.input + usage.output_tokens * price.output
    return -(-total // 1_000_000)


def dollars(micros: int) -> str:
    """ "$5.02": micro-dollars rounded up to the cent (so a spend past a cap never reads
    as equal to it), with thousands separators."""
    cents = -(-micros // MICROS_PER_CENT)
    return f"${cents // 100:,}.{cents % 100:02d}"


def _dig(data: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKENS:
        return None
    return value


def _model_name(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value.strip()) <= 120:
        return value.strip()
    return None


def read_usage(spec: MeteringSpec, answer: Any, request_model: Any = None) -> Usage | None:
    """The usage in a provider's JSON answer, or None when it reports none we can trust
    (missing, not a whole number, negative, absurdly large)."""
    input_tokens = _count(_dig(answer, spec.input_tokens))
    output_tokens = _count(_dig(answer, spec.output_tokens))
    if input_tokens is None or output_tokens is None:
        return None
    model = _model_name(_dig(answer, spec.model)) or _model_name(request_model)
    return Usage(model, input_tokens, output_tokens)


def match_price(table: Mapping[str, tuple[int, int]], model: str | None) -> str | None:
    """The table's entry for a model: its exact name, else the entry it is a dated
    snapshot of (providers answer "gpt-4o-mini-2024-07-18", "claude-sonnet-4-20250514").
    Any other suffix is another model ("gpt-4o-mini" is not "gpt-4o"): no price."""
    if not model:
        return None
    if model in table:
        return model
    snapshot = _SNAPSHOT.search(model)
    return model[: snapshot.start()] if snapshot and model[: snapshot.start()] in table else None


# --- prices ---------------------------------------------------------------------------


def metered_app(conn: Connection) -> AppDefinition | None:
    """The app whose calls through this connection are metered, or None: only account
    connections of model providers are (a workspace's own key has no grant or cap)."""
    if conn.scope != Scope.ACCOUNT:
        return None
    app = get_catalog().find(conn.app)
    return app if app is not None and app.model_provider and app.metering else None


def price_for(
    db: Session, *, account_id: str, app: AppDefinition, model: str | None
) -> Price | None:
    """The account's price for the model, else the catalog's; None when neither has one.
    Both tables are matched as one (an account entry wins on the same name)."""
    if app.metering is None:
        return None
    table: dict[str, tuple[int, int, str]] = {
        name: (p.input, p.output, "catalog") for name, p in app.metering.prices.items()
    }
    for row in spend_scope.account_prices(db, account_id=account_id, app=app.key):
        table[row.model] = (row.input_micros_per_mtok, row.output_micros_per_mtok, "account")
    entry = match_price({k: (v[0], v[1]) for k, v in table.items()}, model)
    if entry is None:
        return None
    found = table[entry]
    return Price(found[0], found[1], found[2], entry)


# --- the run-time path ----------------------------------------------------------------


def check_cap(
    db: Session,
    conn: Connection,
    *,
    workspace_id: str,
    request_model: Any = None,
    now: datetime | None = None,
) -> None:
    """Raise `SpendRefused` if a step through this connection may not call the provider
    now. Reads the grant and the month's spend afresh every time."""
    app = metered_app(conn)
    if app is None:
        return
    grant = grant_scope.grant_of(db, conn, workspace_id)
    if grant is None or grant.monthly_cap_cents is None:
        return
    cap_micros = grant.monthly_cap_cents * MICROS_PER_CENT
    spent = spend_scope.spent_micros(
        db, connection_id=conn.id, workspace_id=workspace_id, month=month_key(now)
    )
    if spent >= cap_micros:
        workspace = spend_scope.workspace_name(
            db, account_id=conn.account_id, workspace_id=workspace_id
        )
        raise SpendRefused(
            f"Monthly spend cap of {dollars(cap_micros)} for {workspace} on “{conn.label}” "
            f"reached ({dollars(spent)} used). An account admin can raise it on the "
            "LLM Keys page.",
            reason="cap",
        )
    model = _model_name(request_model)
    if price_for(db, account_id=conn.account_id, app=app, model=model) is None:
        named = f"the model “{model}”" if model else "a step that names no model"
        raise SpendRefused(
            f"“{conn.label}” has a monthly spend cap, and {app.name} has no price for "
            f"{named}, so its spend could not be counted. An account admin can set its "
            "price (connections-admin prices set), then run again.",
            reason="unpriced",
        )


def record(
    db: Session,
    conn: Connection,
    *,
    workspace_id: str,
    answer: Any,
    request_model: Any = None,
    now: datetime | None = None,
) -> int | None:
    """Add one successful call's cost to the grant's month (in the caller's transaction);
    returns the cost in micro-dollars, or None for a connection that is not metered."""
    app = metered_app(conn)
    if app is None or app.metering is None:
        return None
    usage = read_usage(app.metering, answer, request_model)
    cost = 0
    if usage is None:
        log.warning("model call without readable usage: %s", app.key)
    else:
        price = price_for(db, account_id=conn.account_id, app=app, model=usage.model)
        if price is None and usage.model != _model_name(request_model):
            price = price_for(
                db, account_id=conn.account_id, app=app, model=_model_name(request_model)
            )
        if price is None:
            log.warning("model call without a price: %s %s", app.key, (usage.model or "")[:120])
        else:
            cost = cost_micros(usage, price)
    spend_scope.add_spend(
        db,
        account_id=conn.account_id,
        connection_id=conn.id,
        workspace_id=workspace_id,
        month=month_key(now),
        micros=cost,
    )
    # The account's screens show month-to-date spend (the LLM Keys bars): they follow
    # it live, once this step's transaction commits.
    alerts.changed_in_account(db, conn.account_id)
    return cost


# --- readers --------------------------------------------------------------------------


def month_to_date(
    db: Session,
    account_id: str,
    pairs: Iterable[tuple[str, str]],
    *,
    now: datetime | None = None,
) -> dict[tuple[str, str], MonthSpend]:
    """Month-to-date spend of one account's (connection, workspace) pairs in the current
    UTC month; a pair without a row has spent nothing (it is in the answer, at zero).
    The caller has already resolved the pairs through tenancy for the person asking."""
    wanted = list(dict.fromkeys(pairs))
    found = {
        (row.connection_id, row.workspace_id): MonthSpend(row.spent_micros, row.calls)
        for row in spend_scope.spend_rows(
            db, account_id=account_id, pairs=wanted, month=month_key(now)
        )
    }
    return {pair: found.get(pair, MonthSpend(0, 0)) for pair in wanted}
