"""How times read on the screens: a link made for 7 days expires "in 7 d", not 6."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connections_app.ui import formatting

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _still(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formatting, "utcnow", lambda: NOW)


@pytest.mark.parametrize(
    ("left", "shown"),
    [
        (timedelta(days=7) - timedelta(seconds=2), "In 7 d"),
        (timedelta(hours=72) - timedelta(minutes=1), "In 3 d"),
        (timedelta(hours=5, minutes=10), "In 5 h"),
        (timedelta(seconds=20), "In 1 min"),
        (timedelta(seconds=0), "Expired"),
        (-timedelta(days=1), "Expired"),
    ],
)
def test_an_expiry_reads_to_the_nearest_unit(left: timedelta, shown: str) -> None:
    assert formatting.expiry(NOW + left) == shown


def test_time_ago_still_counts_whole_units() -> None:
    assert formatting.when(NOW - timedelta(days=1, hours=23)) == "1 d ago"
