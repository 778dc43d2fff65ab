"""Who is asking, and what they may see and do (F8, F10; invariants 1 and 2).

Every query of a tenant-owned table is built here, from an `Actor` that the
caller derived from the server-side session. A row the actor cannot see is
reported as `NotFound`, exactly like a row that does not exist, so an id from
another workspace reveals nothing. What a visible row allows is decided by
`allowed_ops`, the role-and-sharing table below, and nowhere else.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from itertools import islice
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, false, func, or_, true, update
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from connections_app.core.audit import AuditEvent
from connections_app.core.connections.models import Connection, Grant, Scope, Sharing, Status
from connections_app.core.errors import Forbidden, NotFound
from connections_app.core.workflows.models import Node, Run, RunStatus, RunStep, Workflow


class Role(StrEnum):
    ADMIN = "admin"
    BUILDER = "builder"
    VIEWER = "viewer"
    CLIENT = "client"


class Op(StrEnum):
    LIST = "list"
    VIEW = "view"
    VIEW_CONFIG = "view_config"
    CREATE = "create"
    UPDATE = "update"
    ROTATE = "rotate"
    DELETE = "delete"
    TEST = "test"
    USE = "use"
    REVOKE = "revoke"
    VIEW_AUDIT = "view_audit"


ALL_CONNECTION_OPS = frozenset(Op) - {Op.CREATE}
_USE_LEVEL = frozenset({Op.LIST, Op.VIEW, Op.USE, Op.TEST})
_VIEW_LEVEL = _USE_LEVEL | {Op.VIEW_CONFIG}
_MANAGE_LEVEL = _VIEW_LEVEL | {Op.UPDATE, Op.ROTATE, Op.DELETE, Op.REVOKE, Op.VIEW_AUDIT}
_READ_ONLY = frozenset({Op.LIST, Op.VIEW})
_BUILDER_LEVELS = {
    Sharing.USE: _USE_LEVEL,
    Sharing.VIEW: _VIEW_LEVEL,
    Sharing.MANAGE: _MANAGE_LEVEL,
}
_VIEWER_LEVELS = {
    Sharing.USE: _READ_ONLY,
    Sharing.VIEW: _READ_ONLY | {Op.VIEW_CONFIG},
    Sharing.MANAGE: _READ_ONLY | {Op.VIEW_CONFIG},
}
_CLIENT_OWN = frozenset({Op.LIST, Op.VIEW, Op.ROTATE, Op.REVOKE})


@dataclass(frozen=True)
class Actor:
    """The caller, always re-derived server-side (session cookie, CLI operator, system task)."""

    user_id: str | None
    label: str
    account_id: str
    workspace_id: str | None
    role: Role | None
    is_account_admin: bool = False

    @property
    def is_workspace_admin(self) -> bool:
        return self.workspace_id is not None and (self.role == Role.ADMIN or self.is_account_admin)

    @property
    def is_client(self) -> bool:
        return self.role == Role.CLIENT

    @classmethod
    def operator(cls, *, account_id: str, workspace_id: str | None, label: str) -> Actor:
        """A trusted operator (CLI on the server): acts as account admin."""
        return cls(
            user_id=None,
            label=label,
            account_id=account_id,
            workspace_id=workspace_id,
            role=Role.ADMIN if workspace_id else None,
            is_account_admin=True,
        )


# --- connections --------------------------------------------------------------------


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


def allowed_ops(actor: Actor, conn: Connection) -> frozenset[Op]:
    """The role × sharing table of F10, for a connection the actor can already see."""
    if conn.account_id != actor.account_id:
        return frozenset()
    if conn.scope == Scope.ACCOUNT:
        if actor.is_account_admin:
            return ALL_CONNECTION_OPS
        if actor.role in (Role.ADMIN, Role.BUILDER):
            return _USE_LEVEL
        if actor.role == Role.VIEWER:
            return _READ_ONLY
        return frozenset()
    if conn.workspace_id != actor.workspace_id:
        return frozenset()
    if actor.is_client:
        return _CLIENT_OWN if conn.authorized_by == actor.user_id else frozenset()
    own = actor.user_id is not None and conn.created_by == actor.user_id
    if actor.is_workspace_admin:
        if conn.sharing == Sharing.PERSONAL and not own:
            return ALL_CONNECTION_OPS - {Op.USE}
        return ALL_CONNECTION_OPS
    if actor.role == Role.BUILDER:
        if own:
            return ALL_CONNECTION_OPS
        return _BUILDER_LEVELS.get(Sharing(conn.sharing), frozenset())
    if actor.role == Role.VIEWER:
        return _VIEWER_LEVELS.get(Sharing(conn.sharing), frozenset())
    return frozenset()


def can_create(actor: Actor, *, scope: Scope = Scope.WORKSPACE) -> bool:
    if scope == Scope.ACCOUNT:
        return actor.is_account_admin
    return actor.workspace_id is not None and (
        actor.is_workspace_admin or actor.role == Role.BUILDER
    )


def check(actor: Actor, op: Op, conn: Connection) -> bool:
    return op in allowed_ops(actor, conn)


def refusal_message(op: Op) -> str:
    return f"Your role does not allow you to {_OP_WORDS[op]} this connection."


def ensure(actor: Actor, op: Op, conn: Connection) -> None:
    """Raise Forbidden without recording it: services refuse through `guard`, which
    audits; this is for read paths whose callers already checked."""
    if op not in allowed_ops(actor, conn):
        raise Forbidden(refusal_message(op))


_OP_WORDS = {
    Op.LIST: "list",
    Op.VIEW: "see",
    Op.VIEW_CONFIG: "see the configuration of",
    Op.CREATE: "create",
    Op.UPDATE: "edit",
    Op.ROTATE: "rotate the credential of",
    Op.DELETE: "delete",
    Op.TEST: "test",
    Op.USE: "use",
    Op.REVOKE: "revoke",
    Op.VIEW_AUDIT: "see the audit history of",
}


# --- other tenant-owned tables ------------------------------------------------------


def audit_query(actor: Actor) -> SelectOfScalar[AuditEvent]:
    """Audit events of the actor's workspace (workspace admins) or account (account admins)."""
    if actor.workspace_id is not None and actor.is_workspace_admin:
        return select(AuditEvent).where(
            AuditEvent.account_id == actor.account_id,
            AuditEvent.workspace_id == actor.workspace_id,
        )
    if actor.is_account_admin:
        return select(AuditEvent).where(AuditEvent.account_id == actor.account_id)
    return select(AuditEvent).where(false())


def connection_audit_query(actor: Actor, conn: Connection) -> SelectOfScalar[AuditEvent]:
    """Events of one connection the actor has already loaded through `get_connection`."""
    ensure(actor, Op.VIEW_AUDIT, conn)
    return select(AuditEvent).where(
        AuditEvent.account_id == actor.account_id, AuditEvent.connection_id == conn.id
    )


def connection_health_query(actor: Actor, conn: Connection) -> SelectOfScalar[AuditEvent]:
    """Events of a connection for its health figures: anyone who may see it may count them."""
    ensure(actor, Op.VIEW, conn)
    return select(AuditEvent).where(
        AuditEvent.account_id == actor.account_id, AuditEvent.connection_id == conn.id
    )


# --- system queries (no person behind them) -----------------------------------------
#
# The OAuth callback and the refresher act for the installation, not for a person.
# Their queries live here too, so every read of `connections` stays in this module;
# each is bounded to the one tenant or the one row it needs.


def find_by_external_identity(
    db: Session, *, workspace_id: str, app: str, identity: str
) -> Connection | None:
    """F18: the workspace's existing connection to this external account, if any."""
    stmt = select(Connection).where(
        Connection.tenant_id == workspace_id,
        Connection.workspace_id == workspace_id,
        Connection.app == app,
        Connection.kind == "oauth2",
        Connection.external_identity == identity,
    )
    return db.exec(stmt.with_for_update()).first()


def connection_for_system(
    db: Session, connection_id: str, *, for_update: bool = False
) -> Connection:
    """One connection by id for the refresher and the run-time path (which checked access)."""
    stmt = select(Connection).where(Connection.id == connection_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = db.exec(stmt).first()
    if row is None:
        raise NotFound("Connection not found.")
    return row


def oauth_due_for_refresh(db: Session, *, now: datetime, limit: int) -> list[str]:
    """Ids of active OAuth connections whose refresh time has come and whose lease is free."""
    stmt = (
        select(Connection.id)
        .where(
            Connection.kind == "oauth2",
            Connection.status == "active",
            Connection.next_refresh_at <= now,  # type: ignore[operator]
            or_(
                Connection.refresh_lease_until.is_(None),  # type: ignore[union-attr]
                Connection.refresh_lease_until < now,  # type: ignore[operator]
            ),
        )
        .order_by(Connection.next_refresh_at)
        .limit(limit)
    )
    return list(db.exec(stmt).all())


def oauth_needing_reauthorization(db: Session, actor: Actor) -> list[Connection]:
    """F21: the OAuth connections of the actor's workspace that are broken."""
    stmt = connections_query(actor).where(Connection.kind == "oauth2", Connection.status == "error")
    return list(db.exec(stmt.order_by(Connection.label_key)).all())


def claim_refresh_lease(
    db: Session, connection_id: str, *, owner: str, now: datetime, until: datetime, force: bool
) -> int | None:
    """Take the refresh lease in one conditional UPDATE; returns the fencing version or None.

    Concurrent claimers serialise on the row: PostgreSQL re-checks the WHERE clause
    after the first commit, SQLite has one writer at a time. Exactly one wins.
    """
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
    return db.exec(select(Connection.token_version).where(Connection.id == connection_id)).one()


# --- workflows ----------------------------------------------------------------------
# Workflows belong to one workspace; every member sees them, builders and admins
# change them (F15). Foreign ids answer not-found, like connections.


def can_build(actor: Actor) -> bool:
    return actor.workspace_id is not None and (
        actor.is_workspace_admin or actor.role == Role.BUILDER
    )


def workflows_query(actor: Actor) -> SelectOfScalar[Workflow]:
    if actor.workspace_id is None or actor.role == Role.CLIENT:
        return select(Workflow).where(false())
    return select(Workflow).where(Workflow.workspace_id == actor.workspace_id)


def _one(db: Session, stmt: Any, what: str, for_update: bool) -> Any:
    row = db.exec(stmt.with_for_update() if for_update else stmt).first()
    if row is None:
        raise NotFound(f"{what} not found.")
    return row


def _valid_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise NotFound(f"{what} not found.")
    return value


def get_workflow(
    db: Session, actor: Actor, workflow_id: Any, *, for_update: bool = False
) -> Workflow:
    wid = _valid_id(workflow_id, "Workflow")
    return _one(db, workflows_query(actor).where(Workflow.id == wid), "Workflow", for_update)


def nodes_query(actor: Actor) -> SelectOfScalar[Node]:
    if actor.workspace_id is None or actor.role == Role.CLIENT:
        return select(Node).where(false())
    return select(Node).where(Node.workspace_id == actor.workspace_id)


def get_node(db: Session, actor: Actor, node_id: Any, *, for_update: bool = False) -> Node:
    nid = _valid_id(node_id, "Node")
    return _one(db, nodes_query(actor).where(Node.id == nid), "Node", for_update)


def usable_connection_sources(actor: Actor, *, app: str) -> list[ColumnElement[bool]]:
    """The picker's rows as two disjoint predicates: this workspace's own connections and
    the account connections granted to it, each usable by the actor.

    `usable_connections_query` is their union; apart, each can
    be answered from its own index (the own part from `ix_connections_picker`, which
    covers the whole predicate), so a workspace with 10,000 connections of one app
    is paged without reading its rows. `tenant_id` is the owning workspace for
    workspace-scoped rows (the data key's owner), so it pins the own part to it.
    """
    if actor.workspace_id is None or actor.role is None or actor.is_client:
        return []
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


def picker_page(
    db: Session,
    actor: Actor,
    *,
    app: str,
    filters: list[ColumnElement[bool]],
    page: int,
    page_size: int,
    count_cap: int,
) -> tuple[int, list[Connection], bool]:
    """One ordered page of `usable_connection_sources` and their total, counted up to
    just past `count_cap` per source, and whether a next page exists (F15).

    Each source is counted, and its (label, id) keys read in order, on its own index up
    to the end of the requested page; merging the two ordered prefixes picks the page.
    Only the page's rows are then read, by primary key: every id came from the scoped
    key query of this same transaction, and each row is checked again on the way out.
    """
    sources = [and_(source, *filters) for source in usable_connection_sources(actor, app=app)]
    # Counting stops past `count_cap` rows: "1,000+" is as useful in a picker as 9,501,
    # and counting every row of a large workspace was most of the picker's time.
    total = sum(
        db.exec(
            select(func.count()).select_from(
                select(Connection.id).where(source).limit(count_cap + 1).subquery()
            )
        ).one()
        for source in sources
    )
    need = page * page_size
    prefixes = [
        db.exec(
            select(Connection.label_key, Connection.id)
            .where(source)
            .order_by(Connection.label_key, Connection.id)  # type: ignore[arg-type]
            .limit(need + 1)  # one more tells whether a next page exists
        ).all()
        for source in sources
    ]
    following = sum(len(p) for p in prefixes) > need
    chosen = [conn_id for _key, conn_id in islice(heapq.merge(*prefixes), need - page_size, need)]
    if not chosen:
        return total, [], following
    found = {c.id: c for c in db.exec(select(Connection).where(Connection.id.in_(chosen)))}  # type: ignore[attr-defined]
    rows = [found[i] for i in chosen if i in found]
    return total, [c for c in rows if c.app == app and check(actor, Op.VIEW, c)], following


def usable_connections_query(actor: Actor, *, app: str) -> SelectOfScalar[Connection]:
    """F15: what a node's picker may offer: this app, visible here, usable by the actor."""
    return select(Connection).where(or_(false(), *usable_connection_sources(actor, app=app)))


# --- runs (F22, F30) ------------------------------------------------------------------
# Runs are read by every member of the workspace; starting one needs the builder
# role (the same as changing a workflow). Executing and resuming are system work,
# claimed per row so several workers never run the same run twice.


def runs_query(actor: Actor) -> SelectOfScalar[Run]:
    if actor.workspace_id is None or actor.role == Role.CLIENT:
        return select(Run).where(false())
    return select(Run).where(Run.workspace_id == actor.workspace_id)


def get_run(db: Session, actor: Actor, run_id: Any) -> Run:
    rid = _valid_id(run_id, "Run")
    return _one(db, runs_query(actor).where(Run.id == rid), "Run", False)


def run_steps(db: Session, run: Run) -> list[RunStep]:
    """The steps of a run the caller already resolved through `get_run` or a claim."""
    return list(db.exec(select(RunStep).where(RunStep.run_id == run.id).order_by(RunStep.position)))


def run_for_system(db: Session, run_id: str) -> Run:
    """Executor path: the run was claimed; its own workspace scopes everything it does."""
    return _one(db, select(Run).where(Run.id == run_id), "Run", False)


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


def resumable_runs(
    db: Session, *, now: datetime, workspace_id: str | None = None, limit: int = 50
) -> list[str]:
    """Waiting runs whose connection is active again, and runs whose executor died."""
    active = select(Connection.id).where(Connection.status == Status.ACTIVE)
    stmt = select(Run.id).where(
        or_(
            and_(Run.status == RunStatus.WAITING, Run.waiting_on.in_(active)),  # type: ignore[union-attr]
            and_(Run.status == RunStatus.RUNNING, Run.lease_until < now),  # type: ignore[operator]
        )
    )
    if workspace_id is not None:
        stmt = stmt.where(Run.workspace_id == workspace_id)
    return list(db.exec(stmt.order_by(Run.created_at).limit(limit)))
