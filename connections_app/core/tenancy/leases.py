"""Claims that let exactly one process do a piece of system work: the refresh lease
of an OAuth connection (invariant 6) and the execution lease of a run.

Each claim is one conditional UPDATE, committed at once. Concurrent claimers
serialise on the row: PostgreSQL re-checks the WHERE clause after the first
commit, SQLite has one writer at a time. Exactly one wins.

The refresh lease's statements are built once (bound parameters): the refresher runs
them for every refresh, and building a statement costs more CPU than running it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, update
from sqlmodel import Session

from connections_app.core.connections.models import Connection, ConnectionSecret
from connections_app.core.workflows.models import Run, RunStatus

# Take the lease (any time: "Refresh now", the run-time path) ...
_CLAIM_ANY = (
    update(Connection)
    .where(
        Connection.id == bindparam("claim_id"),  # type: ignore[arg-type]
        Connection.kind == "oauth2",  # type: ignore[arg-type]
        Connection.status == "active",  # type: ignore[arg-type]
        or_(
            Connection.refresh_lease_until.is_(None),  # type: ignore[union-attr]
            Connection.refresh_lease_until < bindparam("claim_now"),  # type: ignore[operator]
        ),
    )
    .values(
        refresh_lease_owner=bindparam("claim_owner"), refresh_lease_until=bindparam("claim_until")
    )
    .returning(Connection.token_version)
    .execution_options(synchronize_session=False)
)
# ... or only when the row is due (the background refresher).
_CLAIM_DUE = _CLAIM_ANY.where(
    Connection.next_refresh_at <= bindparam("claim_now")  # type: ignore[operator]
)

# Core, not ORM: an ORM UPDATE with a list of parameter sets means "by primary key".
_SECRETS = ConnectionSecret.__table__  # type: ignore[attr-defined]
_SECRET_FIELD = (
    update(_SECRETS)
    .where(
        _SECRETS.c.connection_id == bindparam("secret_connection"),
        _SECRETS.c.purpose == bindparam("secret_purpose"),
        _SECRETS.c.field == bindparam("secret_field"),
    )
    .values(
        key_version=bindparam("secret_key_version"),
        nonce=bindparam("secret_nonce"),
        ciphertext=bindparam("secret_ciphertext"),
        destination=bindparam("secret_destination"),
        created_at=bindparam("secret_at"),
    )
)


def claim_refresh_lease(
    db: Session,
    connection_id: str,
    *,
    owner: str,
    now: datetime,
    until: datetime,
    force: bool,
    commit: bool = True,
) -> int | None:
    """Take the refresh lease in one conditional UPDATE; returns the fencing version
    (`token_version`, from the same statement) or None.

    `commit=False`: the caller reads what the provider call needs in the claim's own
    transaction and commits it before the call (one transaction instead of two)."""
    result = db.execute(
        _CLAIM_ANY if force else _CLAIM_DUE,
        {"claim_id": connection_id, "claim_now": now, "claim_owner": owner, "claim_until": until},
    )
    version = result.scalar_one_or_none()
    if commit:
        db.commit()
    return version


def finish_refresh(
    db: Session, connection_id: str, *, owner: str, version: int, values: dict[str, Any]
) -> int | None:
    """The fenced write of a refresh, in one UPDATE: only while the row still carries this
    lease and the version it was claimed at. Sets `values` (the keys of `_FINISH_VALUES`),
    bumps `token_version` and `secret_version`, gives the lease back; returns the new
    token version, or None when the lease was lost (nothing written). Part of the
    caller's transaction."""
    params = {f"finish_{name}": value for name, value in values.items()}
    params.update(finish_id=connection_id, finish_owner=owner, finish_version=version)
    return db.execute(_FINISH, params).scalar_one_or_none()


_FINISH_VALUES = (
    "masked_tail",
    "updated_at",
    "refresh_failures",
    "token_expires_at",
    "next_refresh_at",
)
_FINISH = (
    update(Connection)
    .where(
        Connection.id == bindparam("finish_id"),  # type: ignore[arg-type]
        Connection.refresh_lease_owner == bindparam("finish_owner"),  # type: ignore[arg-type]
        Connection.token_version == bindparam("finish_version"),  # type: ignore[arg-type]
    )
    .values(
        **{name: bindparam(f"finish_{name}") for name in _FINISH_VALUES},
        token_version=Connection.token_version + 1,
        secret_version=Connection.secret_version + 1,
        refresh_lease_owner=None,
        refresh_lease_until=None,
    )
    .returning(Connection.token_version)
    .execution_options(synchronize_session=False)
)


def replace_secret_fields(
    db: Session,
    connection_id: str,
    *,
    purpose: str,
    sealed: dict[str, Any],
    destination: str,
    at: datetime,
) -> bool:
    """Overwrite sealed fields (name → `Sealed`) of a connection whose refresh lease the
    caller holds, in one round trip (after `finish_refresh`, same transaction); False
    when not every field had its row."""
    result = db.execute(
        _SECRET_FIELD,
        [
            {
                "secret_connection": connection_id,
                "secret_purpose": purpose,
                "secret_field": field,
                "secret_key_version": value.key_version,
                "secret_nonce": value.nonce,
                "secret_ciphertext": value.ciphertext,
                "secret_destination": destination,
                "secret_at": at,
            }
            for field, value in sealed.items()
        ],
    )
    return result.rowcount == len(sealed)  # type: ignore[attr-defined]


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
