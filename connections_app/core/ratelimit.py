"""Pacing calls to a provider: a token bucket per provider, pauses a provider asked for
(`Retry-After`), and jittered exponential back-off.

Pure bookkeeping with an injected clock: nothing here sleeps or talks to anyone, so
the refresher decides how to wait (it waits on its stop event, so Ctrl-C is prompt)
and the tests drive time by hand. Everything here is per process: with several
refresher processes, a provider sees the sum of their rates.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

Clock = Callable[[], float]
# A provider cannot park a connection for longer than this with one Retry-After.
MAX_RETRY_AFTER = 3600.0


class TokenBucket:
    """`rate` requests per second with a burst of `burst`, as a virtual schedule (GCRA):
    a reservation says when its request may go, so concurrent callers are spaced out
    instead of all waking at once. `rate <= 0` means no limit."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._tat = -math.inf  # theoretical arrival time of the next request
        self._lock = threading.Lock()

    def reserve(
        self, now: float, *, not_before: float = 0.0, max_wait: float = math.inf
    ) -> float | None:
        """Take the next slot: seconds from `now` until its request may go, or None (and
        nothing taken) when that would be more than `max_wait` away."""
        start = max(now, not_before)
        if self.rate <= 0:
            wait = start - now
            return wait if wait <= max_wait else None
        interval = 1.0 / self.rate
        with self._lock:
            send_at = max(start, self._tat - (self.burst - 1) * interval)
            if send_at - now > max_wait:
                return None
            self._tat = max(self._tat, send_at) + interval
            return send_at - now

    def delay(self, now: float, *, not_before: float = 0.0) -> float:
        """What `reserve` would answer now, without taking anything."""
        start = max(now, not_before)
        if self.rate <= 0:
            return start - now
        with self._lock:
            return max(start, self._tat - (self.burst - 1) / self.rate) - now


def backoff(
    attempt: int, *, base: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """Seconds before retry `attempt` (1, 2, …): the exponential step `base·2^attempt`
    up to `cap`, "equal jitter" (half fixed, half random) so that many connections
    failing together do not come back together."""
    step = min(cap, base * 2 ** min(max(attempt, 0), 30))
    return step / 2 + rand() * step / 2


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """RFC 9110 §10.2.3 `Retry-After`: delay-seconds or an HTTP-date; None if absent or
    unreadable. Bounded to [0, MAX_RETRY_AFTER] whatever the provider says."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        seconds = float(int(text[:12]))
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = datetime.now(UTC).timestamp() if now is None else now
        seconds = when.timestamp() - current
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class RateSpec:
    """Requests per second per provider: a default and per-provider overrides."""

    default: float = 0.0
    overrides: Mapping[str, float] | None = None

    def rate_for(self, key: str) -> float:
        return (self.overrides or {}).get(key, self.default)

    @classmethod
    def parse(cls, text: str) -> RateSpec:
        """`"20"`, `"slack=5"` or `"20,slack=5,hubspot=10"`; 0 means unlimited. A bad
        entry raises ValueError with a message for people."""
        default = 0.0
        overrides: dict[str, float] = {}
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, number = part.partition("=")
            raw = number if sep else name
            try:
                rate = float(raw)
            except ValueError:
                raise ValueError(
                    f"a rate is a number of requests per second, got {raw!r}"
                ) from None
            if not math.isfinite(rate) or rate < 0:
                raise ValueError(f"a rate is zero (no limit) or more, got {raw!r}")
            if sep:
                if not name.strip():
                    raise ValueError(f"a provider rate is written app=number, got {part!r}")
                overrides[name.strip()] = rate
            else:
                default = rate
        return cls(default, overrides)

    def describe(self) -> str:
        parts = [f"{self.default:g}/s" if self.default else "unlimited"]
        parts += [f"{k}={v:g}/s" for k, v in sorted((self.overrides or {}).items())]
        return ", ".join(parts)


class Pacer:
    """One process's pacing of every provider: its bucket and how long it is paused."""

    def __init__(self, rates: RateSpec | None = None, *, clock: Clock = time.monotonic) -> None:
        self.rates = rates or RateSpec()
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._paused_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def _bucket(self, key: str) -> TokenBucket:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(self.rates.rate_for(key))
            return bucket

    def reserve(self, key: str, *, max_wait: float = math.inf) -> float | None:
        """Seconds to wait before the next call to `key` (after any pause), or None when
        that is more than `max_wait` away (nothing is taken then)."""
        now = self.clock()
        return self._bucket(key).reserve(
            now, not_before=self._paused_until.get(key, 0.0), max_wait=max_wait
        )

    def reserve_delay(self, key: str) -> float:
        """How long a reservation made now would wait (nothing is taken)."""
        return self._bucket(key).delay(self.clock(), not_before=self._paused_until.get(key, 0.0))

    def pause(self, key: str, seconds: float) -> None:
        """The provider asked for quiet (429 + Retry-After): nothing goes before then."""
        until = self.clock() + max(seconds, 0.0)
        with self._lock:
            self._paused_until[key] = max(self._paused_until.get(key, 0.0), until)

    def paused_for(self, key: str) -> float:
        return max(0.0, self._paused_until.get(key, 0.0) - self.clock())

    def paused(self) -> dict[str, float]:
        """Every provider still paused, with the seconds left."""
        now = self.clock()
        with self._lock:
            return {k: u - now for k, u in self._paused_until.items() if u > now}
