"""Scoped queries of runs and their steps (F22, F30).

Runs are read by every member of the workspace; starting one needs the builder
role (the same as changing a workflow). A client reads only the runs it started
(of its own workflows, F32); members see those too, attributed to the client.
Executing and resuming are system work, claimed per row (`leases.claim_run`) so
several workers never run a run twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, or_
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from connections_app.core.connections.models import Connection, Status
from connections_app.core.tenancy._rows import one, valid_id
from connections_app.core.tenancy.actor import Actor, Role
from connections_app.core.workflows.models import Run, RunStatus, RunStep


def runs_query(actor: Actor) -> SelectOfScalar[Run]:
    if actor.workspace_id is None:
        return select(Run).where(false())
    if actor.role == Role.CLIENT:
        if actor.user_id is None:
            return select(Run).where(false())
        return select(Run).where(
            Run.workspace_id == actor.workspace_id, Run.started_by == actor.user_id
        )
    return select(Run).where(Run.workspace_id == actor.workspace_id)


def get_run(db: Session, actor: Actor, run_id: Any) -> Run:
    rid = valid_id(run_id, "Run")
    return one(db, runs_query(actor).where(Run.id == rid), "Run", False)


def run_steps(db: Session, run: Run) -> list[RunStep]:
    """The steps of a run the caller already resolved through `get_run` or a claim."""
    return list(db.exec(select(RunStep).where(RunStep.run_id == run.id).order_by(RunStep.position)))


def run_for_system(db: Session, run_id: str) -> Run:
    """Executor path: the run was claimed; its own workspace scopes everything it does."""
    return one(db, select(Run).where(Run.id == run_id), "Run", False)


def resumable_runs(
    db: Session,
    *,
    now: datetime,
    workspace_id: str | None = None,
    limit: int = 50,
    queued_before: datetime | None = None,
) -> list[str]:
    """Waiting runs whose connection is active again, runs whose executor died, and
    (with `queued_before`) runs queued before then that nobody ever claimed: the process
    that queued one lost the database (or died) between queueing and executing it."""
    active = select(Connection.id).where(Connection.status == Status.ACTIVE)
    cases = [
        and_(Run.status == RunStatus.WAITING, Run.waiting_on.in_(active)),  # type: ignore[union-attr]
        and_(Run.status == RunStatus.RUNNING, Run.lease_until < now),  # type: ignore[operator]
    ]
    if queued_before is not None:
        cases.append(and_(Run.status == RunStatus.QUEUED, Run.created_at < queued_before))  # type: ignore[arg-type]
    stmt = select(Run.id).where(or_(*cases))
    if workspace_id is not None:
        stmt = stmt.where(Run.workspace_id == workspace_id)
    return list(db.exec(stmt.order_by(Run.created_at).limit(limit)))
