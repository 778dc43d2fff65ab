"""Scoped queries of connections and their children (secret rows, grants).

Every read of `connections` is built here from an `Actor`; a row the actor cannot
see is `NotFound`, exactly like a row that does not exist. The system queries at
the end act for the installation (the OAuth callback, the refresher, the run-time
path after its own check); each is bounded to the one tenant or row it needs.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, bindparam, false, func, or_, true, update
from sqlalchemy.engine import Dialect
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from connections_app.core.connections.models import (
    Connection,
    ConnectionSecret,
    Grant,
    Scope,
    Sharing,
)
from connections_app.core.errors import NotFound
from connections_app.core.tenancy.actor import Actor
from connections_app.core.tenancy.policy import Op, check


def _granted_here(actor: Actor) -> ColumnElement[bool]:
    granted = select(Grant.connection_id).where(
        Grant.workspace_id == actor.workspace_id, Grant.account_id == actor.account_id
    )
    return Connection.id.in_(granted)  # type: ignore[union-attr]


def workspace_connections_predicate(actor: Actor) -> ColumnElement[bool]:
    """What the Integrations list and the picker may show in the actor's workspace."""
    if actor.workspace_id is None or actor.role is None:
        return false()
    if actor.is_client:
        return and_(
            Connection.workspace_id == actor.workspace_id,
            Connection.authorized_by == actor.user_id,
        )
    own = and_(
        Connection.scope == Scope.WORKSPACE,
        Connection.workspace_id == actor.workspace_id,
        true()
        if actor.is_workspace_admin
        else or_(Connection.sharing != Sharing.PERSONAL, Connection.created_by == actor.user_id),
    )
    granted = and_(
        Connection.scope == Scope.ACCOUNT,
        Connection.account_id == actor.account_id,
        _granted_here(actor),
    )
    return or_(own, granted)


def client_usable_predicate(actor: Actor) -> ColumnElement[bool]:
    """F32: what a client may use in its own workflows besides what it sees: the
    workspace connections its workspace exposes to embedded workflows. Kept apart from
    `workspace_connections_predicate` on purpose: a client never *sees* them (its lists
    and connection screens stay its own), it only finds them in a node's picker and
    through it."""
    if not actor.is_client or actor.workspace_id is None:
        return false()
    return and_(
        Connection.scope == Scope.WORKSPACE,
        Connection.workspace_id == actor.workspace_id,
        Connection.tenant_id == actor.workspace_id,
        Connection.embedded_enabled == true(),
    )


def account_connections_predicate(actor: Actor) -> ColumnElement[bool]:
    """Account-scoped connections: the LLM Keys page, account admins only."""
    if not actor.is_account_admin:
        return false()
    return and_(Connection.scope == Scope.ACCOUNT, Connection.account_id == actor.account_id)


def connections_query(actor: Actor, *, account_scope: bool = False) -> SelectOfScalar[Connection]:
    predicate = (
        account_connections_predicate(actor)
        if account_scope
        else workspace_connections_predicate(actor)
    )
    return select(Connection).where(predicate)


def get_connection(
    db: Session, actor: Actor, connection_id: Any, *, for_update: bool = False
) -> Connection:
    """The one way to load a connection by id: invisible ≡ absent."""
    if not isinstance(connection_id, str) or not 0 < len(connection_id) <= 64:
        raise NotFound("Connection not found.")
    row = db.exec(
        _connection_by_id(actor, for_update), params={"connection_id": connection_id}
    ).first()
    if row is None:
        raise NotFound("Connection not found.")
    return row


def usable_here_query(actor: Actor) -> SelectOfScalar[Connection]:
    """The connections a node of the actor's workflows may resolve: what it sees, and for
    a client also what the workspace exposes to embedded workflows (`policy` still
    decides USE on each row)."""
    return select(Connection).where(
        or_(workspace_connections_predicate(actor), client_usable_predicate(actor))
    )


def get_connection_to_use(db: Session, actor: Actor, connection_id: Any) -> Connection:
    """`get_connection` for the use path (picking on a node, a run's step, the runtime):
    a client also reaches the exposed connections there, and only there."""
    if not isinstance(connection_id, str) or not 0 < len(connection_id) <= 64:
        raise NotFound("Connection not found.")
    if not actor.is_client:
        return get_connection(db, actor, connection_id)
    row = db.exec(usable_here_query(actor).where(Connection.id == connection_id)).first()
    if row is None:
        raise NotFound("Connection not found.")
    return row


@lru_cache(maxsize=4096)
def _connection_by_id(actor: Actor, for_update: bool) -> SelectOfScalar[Connection]:
    """Built once per actor: the run-time path resolves a connection per step, and
    building this predicate (and its cache key) cost more than running it."""
    stmt = select(Connection).where(
        Connection.id == bindparam("connection_id"),
        or_(workspace_connections_predicate(actor), account_connections_predicate(actor)),
    )
    return stmt.with_for_update() if for_update else stmt


def owner_has(
    db: Session, *, tenant_id: str, column: Any, value: str, exclude_id: str | None = None
) -> bool:
    """Is `value` taken in the owner's namespace (labels and stable keys are unique per owner)?

    Checks every connection of the owner, including personal ones the actor cannot
    see: uniqueness must hold for the whole workspace, and the answer leaks no data.
    """
    stmt = select(Connection.id).where(Connection.tenant_id == tenant_id, column == value)
    if exclude_id:
        stmt = stmt.where(Connection.id != exclude_id)
    return db.exec(stmt).first() is not None


def owner_has_either(
    db: Session, *, tenant_id: str, label_key: str, stable_key: str
) -> tuple[bool, bool]:
    """(is the label taken, is the stable key taken) in the owner's namespace, in one
    query: `owner_has` for both columns of a new connection."""
    rows = db.exec(
        select(Connection.label_key, Connection.stable_key).where(
            Connection.tenant_id == tenant_id,
            or_(Connection.label_key == label_key, Connection.stable_key == stable_key),
        )
    ).all()
    return (
        any(row[0] == label_key for row in rows),
        any(row[1] == stable_key for row in rows),
    )


def oauth_needing_reauthorization(db: Session, actor: Actor) -> list[Connection]:
    """F21: the OAuth connections of the actor's workspace that are broken."""
    stmt = connections_query(actor).where(Connection.kind == "oauth2", Connection.status == "error")
    return list(db.exec(stmt.order_by(Connection.label_key)).all())


# --- children of a connection already resolved through `get_connection` ------------


def secret_rows(
    db: Session, conn: Connection, purpose: str | None = None
) -> list[ConnectionSecret]:
    """The sealed rows of a connection the caller resolved (and checked) already."""
    if purpose is None:
        return list(db.exec(_SECRET_ROWS, params={"connection_id": conn.id}))
    params = {"connection_id": conn.id, "purpose": str(purpose)}
    return list(db.exec(_SECRET_ROWS_OF, params=params))


# Built once (the refresher reads these for every refresh).
_SECRET_ROWS = select(ConnectionSecret).where(
    ConnectionSecret.connection_id == bindparam("connection_id")
)
_SECRET_ROWS_OF = _SECRET_ROWS.where(ConnectionSecret.purpose == bindparam("purpose"))


# Built once: plain columns, not ORM rows (the apply path runs this before every call).
_SEALED_FIELDS = select(
    ConnectionSecret.field,
    ConnectionSecret.key_version,
    ConnectionSecret.nonce,
    ConnectionSecret.ciphertext,
    ConnectionSecret.destination,
).where(
    ConnectionSecret.connection_id == bindparam("connection_id"),
    ConnectionSecret.purpose == bindparam("purpose"),
)


def sealed_fields(db: Session, conn: Connection, purpose: str) -> list[Any]:
    """(field, key_version, nonce, ciphertext, destination) of a resolved connection's
    secrets of one purpose: what the run-time apply path opens."""
    return list(
        db.exec(_SEALED_FIELDS, params={"connection_id": conn.id, "purpose": str(purpose)}).all()
    )


# --- the run-time resolve: one joined select on the step's own connection ------------


class UseFacts(NamedTuple):
    """What the use path needs of a connection, read with its sealed rows in one select.

    Not an ORM row (nor a dataclass): a run step resolves a credential per call, and
    loading and identity-mapping a `Connection` cost several times the select itself.
    Only non-secret columns; the sealed rows travel beside it, still sealed. `config`
    is read-only (it may be shared between resolves of the same configuration).
    """

    id: str
    tenant_id: str
    account_id: str
    workspace_id: str | None
    scope: str
    sharing: str
    created_by: str | None
    authorized_by: str | None
    embedded_enabled: bool
    app: str
    kind: str
    label: str
    status: str
    status_reason: str | None
    config: Mapping[str, Any]
    token_expires_at: datetime | None
    has_test_credentials: bool


_USE_COLUMNS = tuple(getattr(Connection, name) for name in UseFacts._fields)
_CONFIG = UseFacts._fields.index("config")
_SEALED_COLUMNS = (
    ConnectionSecret.field,
    ConnectionSecret.key_version,
    ConnectionSecret.nonce,
    ConnectionSecret.ciphertext,
    ConnectionSecret.destination,
)
_FACTS = len(_USE_COLUMNS)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One actor's use query compiled for one dialect: SQL text for the raw driver, its
    parameters with the actor's predicate bound (the id and purpose slots left to fill),
    and the column converters of the dialect."""

    sql: str
    template: tuple[Any, ...] | dict[str, Any]  # positional (qmark) or named (pyformat)
    id_slots: tuple[Any, ...]
    purpose_slots: tuple[Any, ...]
    prepare: bool  # psycopg: a server-side prepared statement
    fact_converters: tuple[tuple[int, Any], ...]
    sealed_converters: tuple[tuple[int, Any], ...]


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


@lru_cache(maxsize=4096)
def _use_query(actor: Actor, dialect: Dialect) -> _Prepared:
    """Built and compiled once per actor and dialect. The predicate is exactly
    `get_connection_to_use`'s: what the actor sees, the account connections an account
    admin manages, and for a client the connections exposed to embedded workflows."""
    predicate = or_(
        workspace_connections_predicate(actor),
        account_connections_predicate(actor),
        client_usable_predicate(actor),
    )
    stmt = (
        select(*_USE_COLUMNS, *_SEALED_COLUMNS)
        .select_from(Connection)
        .outerjoin(
            ConnectionSecret,
            and_(
                ConnectionSecret.connection_id == Connection.id,
                ConnectionSecret.purpose == bindparam("purpose"),
            ),
        )
        .where(Connection.id == bindparam("connection_id"), predicate)
    )
    compiled = stmt.compile(dialect=dialect)
    blank = {"connection_id": "", "purpose": ""}
    values = {k: _plain(v) for k, v in compiled.construct_params(blank).items()}
    template: tuple[Any, ...] | dict[str, Any]
    if compiled.positional:
        names = tuple(compiled.positiontup or ())
        template = tuple(values[name] for name in names)
        id_slots = tuple(n for n, name in enumerate(names) if name == "connection_id")
        purpose_slots = tuple(n for n, name in enumerate(names) if name == "purpose")
    else:
        template, id_slots, purpose_slots = values, ("connection_id",), ("purpose",)
    fact_converters, sealed_converters = [], []
    for index, column in enumerate((*_USE_COLUMNS, *_SEALED_COLUMNS)):
        convert = column.type._cached_result_processor(dialect, None)
        if index == _CONFIG:
            convert = _read_config
        if convert is None:
            continue
        if index < _FACTS:
            fact_converters.append((index, convert))
        else:
            sealed_converters.append((index - _FACTS, convert))
    return _Prepared(
        compiled.string,
        template,
        id_slots,
        purpose_slots,
        dialect.name == "postgresql",
        tuple(fact_converters),
        tuple(sealed_converters),
    )


@lru_cache(maxsize=8192)
def _parse_config(text: str) -> Mapping[str, Any]:
    return MappingProxyType(json.loads(text))


def _read_config(value: Any) -> Mapping[str, Any]:
    """The configuration column, parsed once per distinct text (it is not secret, and a
    run's steps use few connections): a read-only mapping shared by equal texts."""
    if isinstance(value, str):
        return _parse_config(value)
    return MappingProxyType(value if isinstance(value, dict) else {})  # decoded by the driver


def resolve_for_use(
    db: Session, actor: Actor, connection_id: Any, purpose: str
) -> tuple[UseFacts, list[tuple[str, int, bytes, bytes, str | None]]]:
    """A connection the actor may reach on the use path, with its sealed rows of one
    purpose: one select through the raw driver on the session's own connection (in its
    open transaction). Invisible ≡ absent (`NotFound`); `policy` still decides USE.
    """
    if not isinstance(connection_id, str) or not 0 < len(connection_id) <= 64:
        raise NotFound("Connection not found.")
    sa_connection = db.connection()
    prepared = _use_query(actor, sa_connection.dialect)
    template = prepared.template
    params: Any = dict(template) if isinstance(template, dict) else list(template)
    for slot in prepared.id_slots:
        params[slot] = connection_id
    for slot in prepared.purpose_slots:
        params[slot] = str(purpose)
    raw = sa_connection.connection.driver_connection
    if prepared.prepare:
        rows = raw.execute(prepared.sql, params, prepare=True).fetchall()
    else:
        rows = raw.execute(prepared.sql, params).fetchall()
    if not rows:
        raise NotFound("Connection not found.")
    values = list(rows[0][:_FACTS])
    for index, convert in prepared.fact_converters:
        values[index] = convert(values[index])
    sealed = [row[_FACTS:] for row in rows if row[_FACTS] is not None]
    if prepared.sealed_converters:
        for n, row in enumerate(sealed):
            cells = list(row)
            for index, convert in prepared.sealed_converters:
                cells[index] = convert(cells[index])
            sealed[n] = tuple(cells)
    return UseFacts._make(values), sealed


def grants_of(db: Session, conn: Connection) -> list[Grant]:
    """The grants of a connection the caller resolved (and checked) already."""
    return list(db.exec(select(Grant).where(Grant.connection_id == conn.id)))


# --- the node picker's sources (F15) ------------------------------------------------


def usable_connection_sources(actor: Actor, *, app: str) -> list[ColumnElement[bool]]:
    """The picker's rows as two disjoint predicates: this workspace's own connections and
    the account connections granted to it, each usable by the actor.

    `usable_connections_query` is their union; apart, each can
    be answered from its own index (the own part from `ix_connections_picker`, which
    covers the whole predicate), so a workspace with 10,000 connections of one app
    is paged without reading its rows. `tenant_id` is the owning workspace for
    workspace-scoped rows (the data key's owner), so it pins the own part to it.
    """
    if actor.workspace_id is None or actor.role is None:
        return []
    if actor.is_client:  # F32: its own authorized connections and the exposed ones
        return [
            and_(
                Connection.tenant_id == actor.workspace_id,
                Connection.workspace_id == actor.workspace_id,
                Connection.app == app,
                or_(
                    Connection.authorized_by == actor.user_id,
                    Connection.embedded_enabled == true(),
                ),
            )
        ]
    usable = or_(Connection.sharing != Sharing.PERSONAL, Connection.created_by == actor.user_id)
    own = and_(
        Connection.tenant_id == actor.workspace_id,
        Connection.workspace_id == actor.workspace_id,
        Connection.app == app,
        usable,
    )
    granted = and_(
        Connection.scope == Scope.ACCOUNT,
        Connection.account_id == actor.account_id,
        Connection.app == app,
        _granted_here(actor),
        usable,
    )
    return [own, granted]


def usable_connections_query(actor: Actor, *, app: str) -> SelectOfScalar[Connection]:
    """F15: what a node's picker may offer: this app, visible here, usable by the actor."""
    return select(Connection).where(or_(false(), *usable_connection_sources(actor, app=app)))


def count_source(db: Session, source: ColumnElement[bool], *, cap: int) -> int:
    """Rows of one picker source, counted up to just past `cap` (on its own index)."""
    return db.exec(
        select(func.count()).select_from(
            select(Connection.id).where(source).limit(cap + 1).subquery()
        )
    ).one()


def source_keys(db: Session, source: ColumnElement[bool], *, limit: int) -> list[tuple[str, str]]:
    """The first `limit` (label key, id) pairs of one picker source, in order."""
    return list(
        db.exec(
            select(Connection.label_key, Connection.id)
            .where(source)
            .order_by(Connection.label_key, Connection.id)  # type: ignore[arg-type]
            .limit(limit)
        ).all()
    )


def usable_by_ids(db: Session, actor: Actor, ids: list[str], *, app: str) -> list[Connection]:
    """The rows of ids taken from a picker source, in the order given, each checked again."""
    if not ids:
        return []
    found = {c.id: c for c in db.exec(select(Connection).where(Connection.id.in_(ids)))}  # type: ignore[attr-defined]
    rows = [found[i] for i in ids if i in found]
    return [
        c for c in rows if c.app == app and (check(actor, Op.VIEW, c) or check(actor, Op.USE, c))
    ]


# --- system queries (no person behind them) -----------------------------------------
#
# The OAuth callback and the refresher act for the installation, not for a person.
# Their queries live here too, so every read of `connections` stays in this package;
# each is bounded to the one tenant or the one row it needs.


def find_by_external_identity(
    db: Session, *, owner_id: str, app: str, identity: str, oauth_app_id: str | None = None
) -> Connection | None:
    """F18: the owner's existing connection to this external account, if any — the
    owner being a workspace, or the account for account connections (`tenant_id` names
    exactly one of them). For a custom provider: of the same account OAuth app, since
    two providers' ids may clash."""
    stmt = select(Connection).where(
        Connection.tenant_id == owner_id,
        Connection.app == app,
        Connection.kind == "oauth2",
        Connection.external_identity == identity,
    )
    for row in db.exec(stmt.with_for_update()).all():
        if oauth_app_id is None or (row.config or {}).get("oauth_app_id") == oauth_app_id:
            return row
    return None


def connection_for_system(
    db: Session, connection_id: str, *, for_update: bool = False
) -> Connection:
    """One connection by id for the refresher and the run-time path (which checked access)."""
    stmt = _BY_ID_FOR_UPDATE if for_update else _BY_ID
    row = db.exec(stmt, params={"connection_id": connection_id}).first()
    if row is None:
        raise NotFound("Connection not found.")
    return row


_BY_ID = select(Connection).where(Connection.id == bindparam("connection_id"))
_BY_ID_FOR_UPDATE = _BY_ID.with_for_update()


def count_use(db: Session, connection_id: str, *, now: datetime, ok: bool) -> None:
    """A call made with a connection (the run-time path, after its own check): last used,
    use count and, when it succeeded, last success, in one statement."""
    values: dict[str, Any] = {"last_used_at": now, "use_count": Connection.use_count + 1}
    if ok:
        values["last_success_at"] = now
    db.execute(update(Connection).where(Connection.id == connection_id).values(**values))


def oauth_due_for_refresh(
    db: Session, *, now: datetime, limit: int, offset: int = 0, skip_apps: Collection[str] = ()
) -> list[tuple[str, str]]:
    """(id, app) of active OAuth connections whose refresh time has come and whose lease
    is free, most overdue first (from `offset` on); `skip_apps`: providers the refresher
    has paused."""
    stmt = (
        select(Connection.id, Connection.app)
        .where(
            Connection.kind == "oauth2",
            Connection.status == "active",
            Connection.next_refresh_at <= now,  # type: ignore[operator]
            or_(
                Connection.refresh_lease_until.is_(None),  # type: ignore[union-attr]
                Connection.refresh_lease_until < now,  # type: ignore[operator]
            ),
        )
        .order_by(Connection.next_refresh_at, Connection.id)
        .offset(offset)
        .limit(limit)
    )
    if skip_apps:
        stmt = stmt.where(Connection.app.notin_(list(skip_apps)))  # type: ignore[attr-defined]
    return [(row[0], row[1]) for row in db.exec(stmt).all()]
