"""Runs: a workflow's nodes executed in order on the server (F30), parking on broken
connections and resuming when they are reconnected (F22), live or test mode (F28).

A run acts as the person who started it, with the role they hold when each step
executes, in the run's own workspace: every connection goes through tenancy and
the sharing rules exactly as in the builder. Steps are a snapshot of the nodes at
start. Execution is claimed per run (`leases.claim_run`), so several workers and
the CLI can all try to resume a run and only one does. A step result holds what
the app answered (trimmed), never the request, so never a credential.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import Session, select

from connections_app.core import audit, egress, guard
from connections_app.core.catalog import get_catalog
from connections_app.core.catalog.models import placeholders, relative_path, render
from connections_app.core.clock import utcnow
from connections_app.core.connections import runtime
from connections_app.core.connections.models import Connection, Purpose, Status
from connections_app.core.db import READ_ONLY
from connections_app.core.errors import DomainError, Forbidden, Invalid, NotFound
from connections_app.core.identity import service as identity
from connections_app.core.metering import service as metering
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.tenancy import grants as grant_scope
from connections_app.core.tenancy import leases, policy
from connections_app.core.tenancy import runs as run_scope
from connections_app.core.tenancy import workflows as workflow_scope
from connections_app.core.tenancy.actor import Actor
from connections_app.core.tenancy.connections import UseFacts
from connections_app.core.tenancy.policy import Op
from connections_app.core.vault import Vault, get_vault
from connections_app.core.workflows import service as workflows
from connections_app.core.workflows.models import Node, Run, RunStatus, RunStep, StepStatus

log = logging.getLogger(__name__)

RUN_LEASE = timedelta(minutes=5)
# A run still queued this long after it was queued lost its executor (the database went
# away between queueing and claiming it, or the process died): any process takes it up.
QUEUED_GRACE = timedelta(seconds=30)
RESULT_LIMIT = 2000
HISTORY_PAGE = 20
STEP_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
MODES = ("live", "test")
_FINAL = (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED)


@dataclass(frozen=True)
class StepView:
    position: int
    label: str
    app: str
    app_name: str
    action_name: str
    connection_id: str | None
    connection_label: str | None
    status: str
    message: str | None
    http_status: int | None
    result: str  # the app's answer as short JSON text, for the history page
    attempts: int


@dataclass(frozen=True)
class RunView:
    id: str
    workflow_id: str | None
    workflow_name: str
    mode: str
    status: str
    message: str | None
    waiting_on: str | None
    started_by: str
    created_at: datetime
    finished_at: datetime | None
    steps: list[StepView]
    # What happened, counted by the core so every screen says the same thing:
    # "2 succeeded, 1 failed, 2 skipped" (never "4 of 5 steps" for a failed run).
    summary: str = ""

    # The questions screens ask of a run, answered here so no screen compares statuses.
    @property
    def waiting(self) -> bool:
        """Parked until a connection is reconnected (F22): it continues by itself."""
        return self.status == RunStatus.WAITING

    @property
    def failed(self) -> bool:
        return self.status == RunStatus.FAILED

    @property
    def nothing_ran(self) -> bool:
        """Finished with every step skipped (a test-mode run without test credentials)."""
        return self.status == RunStatus.NOTHING_RAN


@dataclass(frozen=True)
class RunPage:
    items: list[RunView]
    total: int
    page: int
    page_size: int


# --- reading ---------------------------------------------------------------------------


def _step_view(step: RunStep) -> StepView:
    app = get_catalog().find(step.app)
    action_name = step.action
    if app is not None:
        action_name = next((a.name for a in app.actions if a.key == step.action), step.action)
    return StepView(
        position=step.position,
        label=step.label,
        app=step.app,
        app_name=app.name if app else step.app,
        action_name=action_name,
        connection_id=step.connection_id,
        connection_label=step.connection_label,
        status=step.status,
        message=step.message,
        http_status=step.http_status,
        result=json.dumps(step.result, ensure_ascii=False)[:RESULT_LIMIT] if step.result else "",
        attempts=step.attempts,
    )


def summarize(statuses: list[str]) -> str:
    """Counts of step outcomes in words, in a fixed order; empty for a run without steps."""
    words = (
        (StepStatus.SUCCEEDED, "succeeded"),
        (StepStatus.FAILED, "failed"),
        (StepStatus.SKIPPED, "skipped"),
        (StepStatus.WAITING, "waiting"),
        (StepStatus.RUNNING, "running"),
        (StepStatus.PENDING, "not run yet"),
    )
    parts = [f"{statuses.count(status)} {word}" for status, word in words if status in statuses]
    return ", ".join(parts)


def _view(db: Session, run: Run) -> RunView:
    steps = [_step_view(s) for s in run_scope.run_steps(db, run)]
    return RunView(
        id=run.id,
        workflow_id=run.workflow_id,
        workflow_name=run.workflow_name,
        mode=run.mode,
        status=run.status,
        message=run.message,
        waiting_on=run.waiting_on,
        started_by=run.started_by_label,
        created_at=run.created_at,
        finished_at=run.finished_at,
        steps=steps,
        summary=summarize([s.status for s in steps]),
    )


def get(db: Session, *, actor: Actor, run_id: Any) -> RunView:
    return _view(db, run_scope.get_run(db, actor, run_id))


def history(db: Session, *, actor: Actor, workflow_id: Any = None, page: Any = 1) -> RunPage:
    """Newest first; one workflow's runs when `workflow_id` is given."""
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise Invalid("Page must be a positive whole number.", field="page")
    stmt = run_scope.runs_query(actor)
    if workflow_id not in (None, ""):
        wf = workflow_scope.get_workflow(db, actor, workflow_id)
        stmt = stmt.where(Run.workflow_id == wf.id)
    total = db.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = db.exec(
        stmt.order_by(Run.created_at.desc(), Run.id)  # type: ignore[attr-defined]
        .offset((page - 1) * HISTORY_PAGE)
        .limit(HISTORY_PAGE)
    ).all()
    return RunPage([_view(db, r) for r in rows], total, page, HISTORY_PAGE)


def latest(db: Session, *, actor: Actor, workflow_id: Any) -> RunView | None:
    """The newest run of one workflow (the builder shows it live under the nodes)."""
    wf = workflow_scope.get_workflow(db, actor, workflow_id)
    run = db.exec(
        run_scope.runs_query(actor)
        .where(Run.workflow_id == wf.id)
        .order_by(Run.created_at.desc(), Run.id)  # type: ignore[attr-defined]
        .limit(1)
    ).first()
    return _view(db, run) if run is not None else None


# --- starting --------------------------------------------------------------------------


def _audit(db: Session, run: Run, action: str, *, actor: Actor | None, detail: dict) -> None:
    # The run's events on the executor's hot path: appended without the ORM.
    audit.append(
        db,
        account_id=run.account_id,
        workspace_id=run.workspace_id,
        action=action,
        target_type="run",
        target_id=run.id,
        actor_id=actor.user_id if actor else None,
        actor_label=actor.label if actor else "system",
        outcome="failure" if run.status == RunStatus.FAILED else "success",
        detail={"name": run.workflow_name, **detail},
    )


def start(db: Session, *, actor: Actor, workflow_id: Any, mode: Any = "live") -> str:
    """Queue a run of this workflow (builders and admins); returns its id."""
    if mode not in MODES:
        raise Invalid("Run mode must be live or test.", field="mode")
    guard.require_build(db, actor, "run", what="run a workflow", target_id=str(workflow_id)[:64])
    wf = workflow_scope.get_workflow(db, actor, workflow_id)
    nodes = db.exec(
        workflow_scope.nodes_query(actor).where(Node.workflow_id == wf.id).order_by(Node.position)
    ).all()
    if not nodes:
        raise Invalid("This workflow has no nodes yet. Add one, then run it.")
    labels = _refuse_unusable(db, actor, nodes)
    run = Run(
        account_id=wf.account_id,
        workspace_id=wf.workspace_id,
        workflow_id=wf.id,
        workflow_name=wf.name,
        mode=mode,
        started_by=actor.user_id,
        started_by_label=actor.label,
    )
    db.add(run)
    db.flush()
    for node in nodes:
        label = labels.get(node.id)
        db.add(
            RunStep(
                run_id=run.id,
                position=node.position,
                node_id=node.id,
                label=node.label,
                app=node.app,
                action=node.action,
                params=dict(node.params),
                connection_id=node.connection_id,
                connection_label=label,
            )
        )
    _audit(
        db, run, audit.Action.RUN_STARTED, actor=actor, detail={"mode": mode, "nodes": len(nodes)}
    )
    db.commit()
    return run.id


def _unusable_reason(actor: Actor, conn: Connection | None, node: Node) -> str | None:
    """Why this node's connection cannot carry a step now; None when it can.

    A connection in `error` is usable here: the run parks on it and resumes after a
    reconnect (F22). Nothing else would ever make progress, so it is refused up front.
    """
    if not node.connection_id:
        return "no connection picked"
    if conn is None:
        # A client never saw a withdrawn connection, so it is not told it exists (F32).
        return "connection no longer available" if actor.is_client else "connection missing"
    if not policy.check(actor, Op.USE, conn):
        return f"you may not use “{conn.label}”"
    if conn.status == Status.REVOKED:
        return f"“{conn.label}” was revoked"
    if conn.status == Status.PENDING:
        return f"“{conn.label}” is not ready"
    return None


def _refuse_unusable(db: Session, actor: Actor, nodes: list[Node]) -> dict[str, str]:
    """Refuse to start while any node has no usable connection, naming every such node
    (a run that posts its first steps and then fails helps nobody). Returns the
    connection label of each node."""
    found = workflows.node_connections(db, actor, nodes)
    lost = grant_scope.ungranted_account_connections(
        db,
        actor,
        [n.connection_id for n in nodes if n.connection_id and n.connection_id not in found],
    )
    problems = []
    for node in nodes:
        conn = found.get(node.connection_id or "")
        reason = (
            "its account connection is no longer granted to this workspace"
            if node.connection_id in lost
            else _unusable_reason(actor, conn, node)
        )
        if reason is not None:
            problems.append(f"{node.position}. “{node.label}” ({reason})")
    if problems:
        noun = "this node has" if len(problems) == 1 else "these nodes have"
        raise Invalid(
            f"Cannot run: {noun} no usable connection: {', '.join(problems)}. "
            "Pick a connection in the node's panel, then run again.",
            field="connection",
        )
    return {n.id: found[n.connection_id].label for n in nodes if n.connection_id in found}


# --- executing -------------------------------------------------------------------------


class _Park(Exception):
    def __init__(self, conn: Connection | UseFacts, message: str) -> None:
        super().__init__(message)
        self.conn, self.message = conn, message


class _Fail(Exception):
    def __init__(self, message: str, http_status: int | None = None, result: Any = None) -> None:
        super().__init__(message)
        self.message, self.http_status, self.result = message, http_status, result


class _Skip(Exception):
    pass


def build_request(step: RunStep, conn: Connection) -> httpx.Request:
    """The action's HTTP request from the catalog and the node's non-secret parameters.

    The parameters are checked again here (a node saved before a rule tightened, or
    imported): a path stays under the connection's base URL, a body is JSON. The
    runtime then refuses any request whose origin is not the connection's own.
    """
    app = get_catalog().get(step.app)
    spec = app.action(step.action)
    params = spec.validate_params(step.params)
    path_names = placeholders(spec.path)
    path = relative_path(render(spec.path, params, quote_values=True))
    url = app.resolve_base_url(conn.config) + path
    method = spec.request_method(params)
    consumed = path_names | {spec.method_param, spec.body_param}
    # Extra parameters become the query (GET/DELETE); none at all keeps a query the
    # path itself carries (httpx replaces the query when handed even an empty mapping).
    rest = {k: v for k, v in params.items() if k not in consumed} or None
    headers = {"Accept": "application/json"}
    if spec.body_param is not None:
        body = params.get(spec.body_param)
        if body is None:
            return httpx.Request(method, url, params=rest, headers=headers)
        return httpx.Request(
            method,
            url,
            params=rest,
            content=body.encode(),
            headers={**headers, "Content-Type": "application/json"},
        )
    if method in ("GET", "DELETE"):
        return httpx.Request(method, url, params=rest, headers=headers)
    return httpx.Request(method, url, json=rest or {}, headers=headers)


def _resolve_connection(
    db: Session, actor: Actor, run: Run, step: RunStep, learned: dict[str, Any]
) -> runtime.Found:
    """The node's current connection (it may have been switched while the run waited),
    with its sealed rows, in one select. What the step learns (the connection now
    picked, its label) goes to `learned`: this runs in a read-only transaction, so the
    step row is written only afterwards."""
    connection_id = step.connection_id
    if step.node_id:
        node = db.exec(workflow_scope.nodes_query(actor).where(Node.id == step.node_id)).first()
        if node is not None and node.connection_id != step.connection_id:
            connection_id = learned["connection_id"] = node.connection_id
    if not connection_id:
        raise _Fail("No connection is picked for this node. Pick one in its panel.")
    purpose = Purpose.TEST if run.mode == "test" else Purpose.LIVE
    try:
        found = runtime.lookup(db, actor, connection_id, purpose)
    except NotFound:
        if actor.is_client:  # withdrawn from embedded workflows, or gone (F32)
            raise _Fail(_unavailable_message(step.connection_label)) from None
        if grant_scope.is_ungranted_account_connection(db, actor, connection_id):
            raise _Fail(_ungranted_message(step.connection_label)) from None
        raise _Fail(
            "Connection missing: it was deleted or is not available in this workspace. "
            "Pick another in the node's panel, then run again."
        ) from None
    conn = found.conn
    if not grant_scope.granted_here(db, actor, conn):  # an account admin sees it anyway
        raise _Fail(_ungranted_message(conn.label))
    learned["connection_label"] = conn.label
    if conn.status == Status.REVOKED:
        raise _Fail(f"The connection “{conn.label}” was revoked. Reconnect it or pick another.")
    if conn.status == Status.ERROR:
        raise _Park(conn, _waiting_message(conn))
    if conn.status != Status.ACTIVE:
        reason = f": {conn.status_reason}" if conn.status_reason else f" ({conn.status})."
        raise _Fail(f"The connection “{conn.label}” is not ready{reason}")
    if run.mode == "test" and not conn.has_test_credentials:
        raise _Skip(f"Skipped in test mode: “{conn.label}” has no test credentials.")
    return found


@contextmanager
def _reading(db: Session, step: RunStep, learned: dict[str, Any]) -> Iterator[None]:
    """The step's resolve in its own read-only transaction: on SQLite it takes no write
    lock (another worker's step commits meanwhile). Nothing is flushed inside it; what
    the step learned is set on its row when the transaction has ended."""
    db.connection(execution_options={READ_ONLY: True})
    try:
        with db.no_autoflush:
            yield
    finally:
        if db.in_transaction():
            db.commit()  # nothing was written: ends the read before any write or call
        for name, value in learned.items():
            # Only a change dirties the row: an unchanged label set again would make the
            # commit before the call flush, i.e. take the write lock for nothing.
            if getattr(step, name) != value:
                setattr(step, name, value)


def _ungranted_message(label: str | None) -> str:
    """F9: the account took its connection out of this workspace (the label is the one
    the step already knew, never read from a connection the actor may not see)."""
    name = f"“{label}”" if label else "The account connection this node uses"
    return (
        f"{name} is no longer granted to this workspace. An account admin can grant it "
        "again, or pick another connection in the node's panel."
    )


def _unavailable_message(label: str | None) -> str:
    """F32: the workspace took the connection out of its clients' workflows; nothing was
    sent. The label is the one the step already knew."""
    name = f"“{label}”" if label else "The connection this node uses"
    return (
        f"{name} is no longer available for your workflows; nothing was sent. "
        "Pick another connection in the node's panel."
    )


def _waiting_message(conn: Connection | UseFacts) -> str:
    reason = (conn.status_reason or "").strip()
    if reason and not reason.endswith("."):
        reason += "."
    return f"Waiting for “{conn.label}” to be reconnected. {reason}".strip()


def _run_step(
    db: Session,
    actor: Actor,
    run: Run,
    step: RunStep,
    client: httpx.Client,
    vault: Vault,
    used: list[tuple[UseFacts, bool]],
) -> None:
    learned: dict[str, Any] = {}
    credential: runtime.Credential | None = None
    unavailable: runtime.CredentialUnavailable | None = None
    with _reading(db, step, learned):
        # The resolve, inside the step's own (read-only) transaction: one select of the
        # connection with its sealed rows, USE, decrypt, header values.
        found = _resolve_connection(db, actor, run, step, learned)
        conn = found.conn
        request = build_request(step, conn)
        try:
            runtime.ensure_use(db, actor, conn)
        except Forbidden:
            raise _Fail(f"The person who started this run may not use “{conn.label}”.") from None
        if not runtime.needs_refresh(conn):  # an expiring token: refreshed after the read
            try:
                credential = runtime.open_credential(db, vault, found)
            except runtime.CredentialUnavailable as err:
                unavailable = err
        refused = _spend_refusal(db, run, step, conn)
    try:
        if unavailable is not None:
            runtime.fail_closed(db, actor=actor, found=found, err=unavailable)
            raise unavailable
        if refused is not None:
            if credential is not None:
                credential.drop()
            _refuse_spend(db, actor, run, step, conn, refused)
        if credential is None:
            found = runtime.refreshed(db, actor, found, vault)
        reply = _call(db, actor, found, request, client, vault, credential, used)
    except runtime.ConnectionUnavailable as err:
        current = connection_scope.connection_for_system(db, conn.id)
        db.refresh(current)
        if current.status == Status.ERROR:
            raise _Park(current, _waiting_message(current)) from None
        raise _Fail(str(err)) from None
    except Forbidden:
        raise _Fail(f"The person who started this run may not use “{conn.label}”.") from None
    except httpx.TimeoutException:
        raise _Fail(f"{_app_name(step)} did not answer in time.") from None
    except httpx.HTTPError as err:
        refused_destination = egress.describe(err)
        if refused_destination is not None:
            raise _Fail(refused_destination) from None
        raise _Fail(f"{_app_name(step)} is unreachable ({type(err).__name__}).") from None
    # The answer arrives masked (nothing the credential put on the request comes back)
    # and bounded; the request and its headers are never stored.
    answer = reply.answer
    code = reply.status_code
    if code < 400:
        step.http_status, step.result = code, answer
        _record_spend(db, run, step, conn, reply)
        return
    if code in (401, 403):
        current = connection_scope.connection_for_system(db, conn.id)
        db.refresh(current)
        if current.status == Status.ERROR:
            raise _Park(current, _waiting_message(current))
        raise _Fail(f"{_app_name(step)} rejected the credentials (HTTP {code}).", code, answer)
    raise _Fail(f"{_app_name(step)} answered HTTP {code}.", code, answer)


def _call(
    db: Session,
    actor: Actor,
    found: runtime.Found,
    request: httpx.Request,
    client: httpx.Client,
    vault: Vault,
    credential: runtime.Credential | None,
    used: list[tuple[UseFacts, bool]],
) -> runtime.Reply:
    """The provider call; the use (noted in `used`) is recorded in the step's own
    closing write (with its result and spend, `_record_uses`), not in a transaction of
    its own."""
    ok = False
    try:
        reply = runtime.call(
            db,
            actor=actor,
            found=found,
            request=request,
            client=client,
            vault=vault,
            credential=credential,
            record=False,
        )
        ok = reply.ok
        return reply
    finally:
        used.append((found.conn, ok))


def _record_uses(db: Session, actor: Actor, used: list[tuple[UseFacts, bool]]) -> None:
    """The step's use (counters and its `used` event), last in its closing write: the
    step rows are flushed first, so the rows other workers contend for — the
    connection's counters and the account's audit-chain head — are locked only for
    these few statements and the commit, not while the rest of the write is made."""
    db.flush()
    for conn, ok in used:
        runtime.record_use(db, actor=actor, connection_id=conn.id, ok=ok, conn=conn, commit=False)
    used.clear()


def _spend_refusal(
    db: Session, run: Run, step: RunStep, conn: UseFacts
) -> metering.SpendRefused | None:
    """Why a metered step may not call its provider now (its grant reached its cap, or
    names an unpriced model on a capped grant); None when it may."""
    try:
        metering.check_cap(
            db,
            conn,
            workspace_id=run.workspace_id,
            request_model=step.params.get(_model_param(step)),
        )
    except metering.SpendRefused as refused:
        return refused
    return None


def _refuse_spend(
    db: Session, actor: Actor, run: Run, step: RunStep, conn: UseFacts, refused: Any
) -> None:
    """The step fails before anything is sent; the refusal is audited on the connection."""
    audit.record_for_connection(
        db,
        conn,
        audit.Action.SPEND_CAP_REACHED,
        actor_id=actor.user_id,
        actor_label=actor.label,
        workspace_id=run.workspace_id,
        outcome="denied",
        detail={"run": run.id, "step": step.position, "reason": refused.reason},
    )
    raise _Fail(refused.message)


def _record_spend(
    db: Session, run: Run, step: RunStep, conn: UseFacts, reply: runtime.Reply
) -> None:
    """Add what the provider reported for this call to the grant's month (one atomic
    statement, committed with the step)."""
    metering.record(
        db,
        conn,
        workspace_id=run.workspace_id,
        answer=reply.data,
        request_model=step.params.get(_model_param(step)),
    )


def _model_param(step: RunStep) -> str:
    app = get_catalog().find(step.app)
    return app.metering.model_param if app is not None and app.metering else "model"


def _app_name(step: RunStep) -> str:
    app = get_catalog().find(step.app)
    return app.name if app else step.app


def execute(
    db: Session,
    run_id: str,
    *,
    client: httpx.Client | None = None,
    vault: Vault | None = None,
    resuming: bool = False,
) -> str | None:
    """Claim the run and execute its remaining steps; returns the run's status, or None
    when another worker holds it. Safe to call from any process."""
    now = utcnow()
    wanted = (RunStatus.WAITING,) if resuming else (RunStatus.QUEUED, RunStatus.WAITING)
    if not leases.claim_run(db, run_id, from_statuses=wanted, until=now + RUN_LEASE, now=now):
        return None
    run = run_scope.run_for_system(db, run_id)
    db.refresh(run)
    vault = vault or get_vault()
    try:
        actor = identity.actor_for_member(db, user_id=run.started_by, workspace_id=run.workspace_id)
    except NotFound as err:
        _finish(db, run, None, RunStatus.FAILED, str(err))
        return run.status
    if run.waiting_on:
        run.waiting_on = None
        _audit(db, run, audit.Action.RUN_RESUMED, actor=None, detail={})
        db.add(run)
        db.commit()
    own_client = client is None
    http = client or egress.client(timeout=STEP_TIMEOUT)
    try:
        return _steps(db, actor, run, http, vault)
    finally:
        if own_client:
            http.close()


def _steps(db: Session, actor: Actor, run: Run, client: httpx.Client, vault: Vault) -> str:
    steps = run_scope.run_steps(db, run)
    marked: RunStep | None = None  # marked running by the previous step's closing write
    used: list[tuple[UseFacts, bool]] = []  # the call's use, recorded in its closing write
    for index, step in enumerate(steps):
        if step.status in _FINAL:
            continue
        if step is not marked:
            _mark_running(db, run, step)
            db.commit()
        try:
            _run_step(db, actor, run, step, client, vault, used)
        except _Park as park:
            step.status, step.message = StepStatus.WAITING, park.message
            run.status, run.waiting_on, run.message = RunStatus.WAITING, park.conn.id, park.message
            run.lease_until, run.updated_at = None, utcnow()
            db.add_all([step, run])
            _record_uses(db, actor, used)
            _audit(db, run, audit.Action.RUN_WAITING, actor=None, detail={"step": step.position})
            db.commit()
            return run.status
        except _Skip as skip:
            step.status, step.message = StepStatus.SKIPPED, str(skip)
        except _Fail as fail:
            step.status, step.message = StepStatus.FAILED, fail.message
            step.http_status = fail.http_status
            step.result = fail.result or {}
        except DomainError as err:
            step.status, step.message = StepStatus.FAILED, str(err)
        else:
            step.status, step.message = StepStatus.SUCCEEDED, None
        step.finished_at = utcnow()
        db.add(step)
        # One write closes this step and opens the next (the run's closing write takes
        # the last): a step costs one write transaction besides its resolve.
        following = next((s for s in steps[index + 1 :] if s.status not in _FINAL), None)
        if following is not None and step.status != StepStatus.FAILED:
            _mark_running(db, run, following)
            marked = following
            _record_uses(db, actor, used)
            db.commit()
        if step.status == StepStatus.FAILED:
            for later in steps[index + 1 :]:
                later.status, later.message = StepStatus.SKIPPED, "Not run: an earlier step failed."
                db.add(later)
            _record_uses(db, actor, used)
            _finish(
                db, run, actor, RunStatus.FAILED, f"Step {step.position} failed: {step.message}"
            )
            return run.status
    _record_uses(db, actor, used)
    skipped = sum(1 for s in steps if s.status == StepStatus.SKIPPED)
    if steps and skipped == len(steps):
        why = " (no node has test credentials)" if run.mode == "test" else ""
        _finish(db, run, actor, RunStatus.NOTHING_RAN, f"Nothing ran: every step was skipped{why}.")
        return run.status
    message = f"{skipped} of {len(steps)} steps skipped." if skipped else None
    _finish(db, run, actor, RunStatus.SUCCEEDED, message)
    return run.status


def _mark_running(db: Session, run: Run, step: RunStep) -> None:
    now = utcnow()
    step.status, step.attempts = StepStatus.RUNNING, step.attempts + 1
    step.started_at, step.message = step.started_at or now, None
    db.add(step)
    # The lease is renewed when less than half of it is left, not by every step: a step
    # ends within STEP_TIMEOUT, far inside half a lease, so the run's row is written
    # once every few minutes instead of once per step.
    lease = run.lease_until
    if lease is not None and lease.tzinfo is None:  # SQLite hands back naive UTC
        lease = lease.replace(tzinfo=UTC)
    if lease is None or lease - now < RUN_LEASE / 2:
        run.lease_until = now + RUN_LEASE
        db.add(run)


def _finish(db: Session, run: Run, actor: Actor | None, status: str, message: str | None) -> None:
    run.status, run.message = status, (message or None) and message[:500]
    run.lease_until, run.waiting_on = None, None
    run.finished_at = run.updated_at = utcnow()
    db.add(run)
    db.flush()  # the chain's head is locked last, for the event and the commit only
    _audit(db, run, audit.Action.RUN_FINISHED, actor=None, detail={"status": status})
    db.commit()


def run_now(
    session_factory: Callable[[], Session],
    *,
    actor: Actor,
    workflow_id: Any,
    mode: Any = "live",
    client: httpx.Client | None = None,
) -> str:
    """Start and execute in one go (the builder's Run button); returns the run id."""
    with session_factory() as db:
        run_id = start(db, actor=actor, workflow_id=workflow_id, mode=mode)
    with session_factory() as db:
        execute(db, run_id, client=client)
    return run_id


def retry(db: Session, *, actor: Actor, run_id: Any, client: httpx.Client | None = None) -> str:
    """ "Try again now" on a waiting run (e.g. after switching the node's connection)."""
    guard.require_build(
        db, actor, "run", what="retry a run", target_type="run", target_id=str(run_id)[:64]
    )
    run = run_scope.get_run(db, actor, run_id)
    if run.status != RunStatus.WAITING:
        raise Invalid("Only a run that is waiting can be tried again.")
    status = execute(db, run.id, client=client, resuming=True)
    if status is None:
        raise Invalid("This run is already being resumed.")
    return status


def resume_ready(
    session_factory: Callable[[], Session],
    *,
    workspace_id: str | None = None,
    client: httpx.Client | None = None,
) -> int:
    """Resume parked runs whose connection is active again (and runs whose worker died,
    or that were queued but never claimed).

    Called after a reconnect alert and on the refresher's interval, in every process;
    the claim lets exactly one of them execute each run.
    """
    now = utcnow()
    with session_factory() as db:
        ids = run_scope.resumable_runs(
            db, now=now, workspace_id=workspace_id, queued_before=now - QUEUED_GRACE
        )
    resumed = 0
    for run_id in ids:
        try:
            with session_factory() as db:
                if execute(db, run_id, client=client, resuming=False) is not None:
                    resumed += 1
        except Exception as err:  # one broken run must not stop the others
            log.warning("resuming run failed: %s", type(err).__name__)
    return resumed
