"""Human-readable times and labels for read-models (strings only: state stays plain)."""

from __future__ import annotations

from datetime import datetime

from connections_app.core.clock import utcnow

SHARING_LABELS = {
    "personal": "Personal",
    "use": "Team · use",
    "view": "Team · view",
    "manage": "Team · manage",
}
SHARING_HELP = {
    "personal": "Only you can use it.",
    "use": "Builders can pick it on nodes but not see its configuration.",
    "view": "Builders can pick it and see its configuration (never the secret).",
    "manage": "Builders can also edit, rotate and delete it.",
}


def when(value: datetime | None, *, never: str = "Never") -> str:
    """Relative for the recent past ("5 min ago"), a date otherwise."""
    if value is None:
        return never
    delta = utcnow() - value
    seconds = int(delta.total_seconds())
    if -60 < seconds < 60:
        return "Just now"
    if seconds < 0:
        return "In " + _span(-seconds)
    if seconds < 7 * 86400:
        return _span(seconds) + " ago"
    return value.strftime("%b %-d, %Y")


def exact(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def expiry(value: datetime | None) -> str:
    if value is None:
        return ""
    seconds = int((value - utcnow()).total_seconds())
    if seconds <= 0:
        return "Expired"
    # To the nearest unit: a 7-day link read a second after it was made expires "in 7 d".
    return "In " + _span(seconds, nearest=True)


def _span(seconds: int, *, nearest: bool = False) -> str:
    def units(size: int) -> int:
        return max(1, round(seconds / size)) if nearest else seconds // size

    if seconds < 3600:
        return f"{units(60)} min"
    if seconds < 86400:
        return f"{units(3600)} h"
    return f"{units(86400)} d"


def page_summary(page: int, page_size: int, total: int) -> str:
    """ "26–50 of 5,000": where this page sits in the whole filtered result."""
    if total <= 0:
        return ""
    first = (page - 1) * page_size + 1
    return f"{first:,}–{min(total, page * page_size):,} of {total:,}"
