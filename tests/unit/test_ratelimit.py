"""The refresher's pacing arithmetic, on a hand-driven clock (nothing here sleeps)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from connections_app.core.ratelimit import (
    MAX_RETRY_AFTER,
    Pacer,
    RateSpec,
    TokenBucket,
    backoff,
    retry_after_seconds,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_spaces_requests_at_its_rate() -> None:
    bucket = TokenBucket(rate=10)
    waits = [bucket.reserve(0.0) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_a_bucket_refills_while_idle_but_does_not_bank_beyond_its_burst() -> None:
    bucket = TokenBucket(rate=10, burst=3)
    assert [bucket.reserve(0.0) for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])
    # Ten idle seconds: three may go at once again, not a hundred.
    assert [bucket.reserve(10.0) for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])


def test_a_reservation_beyond_max_wait_takes_nothing() -> None:
    bucket = TokenBucket(rate=1)
    assert bucket.reserve(0.0) == 0
    assert bucket.reserve(0.0, max_wait=0.5) is None
    assert bucket.delay(0.0) == pytest.approx(1.0), "the refused reservation took no slot"
    assert bucket.reserve(0.0, max_wait=1.0) == pytest.approx(1.0)


def test_no_rate_means_no_wait_but_a_pause_still_holds() -> None:
    bucket = TokenBucket(rate=0)
    assert all(bucket.reserve(5.0) == 0 for _ in range(100))
    assert bucket.reserve(5.0, not_before=7.5) == pytest.approx(2.5)
    assert bucket.reserve(5.0, not_before=7.5, max_wait=2) is None


def test_the_pacer_keeps_each_provider_to_its_own_rate_and_pause() -> None:
    clock = Clock()
    pacer = Pacer(RateSpec(5, {"hubspot": 1}), clock=clock)
    assert [pacer.reserve("slack") for _ in range(3)] == pytest.approx([0, 0.2, 0.4])
    assert [pacer.reserve("hubspot") for _ in range(2)] == pytest.approx([0, 1.0])
    pacer.pause("slack", 30)
    assert pacer.paused() == {"slack": pytest.approx(30)}
    assert pacer.reserve_delay("slack") == pytest.approx(30)
    assert pacer.reserve("slack", max_wait=20) is None, "a lease may not wait that long"
    assert pacer.reserve("hubspot") == pytest.approx(2.0), "another provider is not paused"
    clock.now += 30
    assert pacer.paused() == {}
    assert pacer.reserve("slack") == 0
    pacer.pause("slack", 10)
    pacer.pause("slack", 2)  # a shorter pause does not cut a longer one short
    assert pacer.paused_for("slack") == pytest.approx(10)


def test_backoff_doubles_up_to_its_cap_with_equal_jitter() -> None:
    low = [backoff(n, base=5, cap=600, rand=lambda: 0.0) for n in range(1, 10)]
    high = [backoff(n, base=5, cap=600, rand=lambda: 1.0) for n in range(1, 10)]
    assert high == [10, 20, 40, 80, 160, 320, 600, 600, 600]
    assert low == [h / 2 for h in high], "at least half the step, whatever the dice say"
    assert backoff(10_000, base=5, cap=600, rand=lambda: 0.5) == 450


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("99999999", MAX_RETRY_AFTER),
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_in_seconds(header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(header) == expected


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 12, 1, 6, 0, tzinfo=UTC).timestamp()
    later = format_datetime(datetime(2026, 12, 1, 6, 1, 30, tzinfo=UTC), usegmt=True)
    assert retry_after_seconds(later, now=now) == 90
    earlier = format_datetime(datetime(2026, 12, 1, 5, 0, tzinfo=UTC), usegmt=True)
    assert retry_after_seconds(earlier, now=now) == 0, "a date in the past: go now"


@pytest.mark.parametrize(
    ("text", "default", "overrides"),
    [
        ("", 0.0, {}),
        ("20", 20.0, {}),
        ("slack=5", 0.0, {"slack": 5.0}),
        ("20, slack=5 ,hubspot=0.5", 20.0, {"slack": 5.0, "hubspot": 0.5}),
    ],
)
def test_rate_specs(text: str, default: float, overrides: dict[str, float]) -> None:
    spec = RateSpec.parse(text)
    assert spec.default == default
    assert dict(spec.overrides or {}) == overrides
    assert spec.rate_for("github") == default


@pytest.mark.parametrize("text", ["fast", "-1", "slack=", "=5", "nan", "inf"])
def test_bad_rate_specs_say_why(text: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        RateSpec.parse(text)
