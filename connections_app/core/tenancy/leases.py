"""Claims that let exactly one process do a piece of system work: the refresh lease
of an OAuth connection (invariant 6) and the execution lease of a run.

Each claim is one conditional UPDATE, committed at once. Concurrent claimers
serialise on the row: PostgreSQL re-checks the WHERE clause after the first
commit, SQLite has one writer at a time. Exactly one wins.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, update
from sqlmodel import Session

from connections_app.core.connections.models import Connection
from connections_app.core.tenancy.connections import token_version_of
from connections_app.core.workflows.models import Run, RunStatus


def claim_refresh_lease(
    db: Session, connection_id: str, *, owner: str, now: datetime, until: datetime, force: bool
) -> int | None:
    """Take the refresh lease in one conditional UPDATE; returns the fencing version or None."""
    conditions = [
        Connection.id == connection_id,
        Connection.kind == "oauth2",
        Connection.status == "active",
        or_(
            Connection.refresh_lease_until.is_(None),  # type: ignore[union-attr]
            Connection.refresh_lease_until < now,  # type: ignore[operator]
        ),
    ]
    if not force:
        conditions.append(Connection.next_refresh_at <= now)  # type: ignore[operator]
    result = db.execute(
        update(Connection)
        .where(*conditions)
        .values(refresh_lease_owner=owner, refresh_lease_until=until)
    )
    db.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return token_version_of(db, connection_id)


def claim_run(
    db: Session, run_id: str, *, from_statuses: tuple[str, ...], until: datetime, now: datetime
) -> bool:
    """Atomically move a run to `running`; False when another worker got there first."""
    result = db.execute(
        update(Run)
        .where(
            Run.id == run_id,  # type: ignore[arg-type]
            or_(
                Run.status.in_(from_statuses),  # type: ignore[attr-defined]
                and_(Run.status == RunStatus.RUNNING, Run.lease_until < now),  # type: ignore[arg-type,operator]
            ),
        )
        .values(status=RunStatus.RUNNING, lease_until=until, updated_at=now)
    )
    db.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]
