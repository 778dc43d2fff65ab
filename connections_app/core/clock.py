"""One notion of "now" for the whole core: timezone-aware UTC.

SQLModel's datetime columns refuse naive values and hand back aware UTC from both
SQLite and PostgreSQL, so comparisons and the audit hash agree across databases.
"""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
