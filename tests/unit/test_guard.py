"""The refusal recorder's rate limit: a flood is counted, not written."""

from __future__ import annotations

from connections_app.core.guard import RateLimiter


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_each_key_gets_its_budget_then_held_back_events_are_counted() -> None:
    clock = Clock()
    limiter = RateLimiter(per_key=3, overall=100, window=60, clock=clock)
    assert [limiter.admit("vic") for _ in range(3)] == [0, 0, 0]
    assert [limiter.admit("vic") for _ in range(5)] == [None] * 5
    assert limiter.admit("bea") == 0, "another person is not held back by vic's flood"
    clock.now = 61
    assert limiter.admit("vic") == 5, "the next event written says how many were not"
    assert limiter.admit("vic") == 0


def test_the_process_wide_budget_bounds_many_keys() -> None:
    clock = Clock()
    limiter = RateLimiter(per_key=10, overall=4, window=60, clock=clock)
    admitted = [limiter.admit(f"user-{n}") for n in range(10)]
    assert admitted.count(0) == 4 and admitted.count(None) == 6
    clock.now = 120
    assert limiter.admit("user-9") == 1
