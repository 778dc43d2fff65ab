"""Export and import of workflows between workspaces or installations (F29, F3).

An export is a plain JSON document that can travel anywhere: it names each node's
connection by its *stable key* only, so it carries no ids (they mean nothing in
another workspace and would reveal the source's), no secrets, no masked tails and
nothing else about the workspace it came from. Anyone who may see the workflow may
export it for that reason.

An import is hostile input from a file. The whole document is checked (shape,
format and version, sizes, catalog apps and actions, action parameters) before
anything is written, so a bad document leaves no trace. Stable keys are then
resolved among the connections the importing actor may use *here*, through the
same tenancy helpers as the node picker: a key can only ever bind to a connection
of the importing workspace (or one granted to it), never to the source's. The new
workflow, its nodes and one audit event are committed together.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from connections_app.core import audit, guard
from connections_app.core.catalog import get_catalog
from connections_app.core.catalog.models import ActionSpec, AppDefinition
from connections_app.core.connections.models import Connection, Scope, Status
from connections_app.core.errors import Conflict, Invalid, NotFound
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.tenancy import policy
from connections_app.core.tenancy import workflows as workflow_scope
from connections_app.core.tenancy.actor import Actor
from connections_app.core.tenancy.policy import Op
from connections_app.core.validation import clean_text
from connections_app.core.workflows.models import Node, Workflow

FORMAT = "connections.workflow"
VERSION = 1
MAX_NODES = 200
MAX_DOCUMENT_BYTES = 1_000_000
NAME_MAX = 120
_MAX_SUFFIX_TRIES = 1000

_DOC_KEYS = frozenset({"format", "version", "name", "nodes"})
_NODE_KEYS = frozenset({"label", "app", "action", "auth_kind", "params", "connection"})
# The same rule as the connection service's stable keys (F3).
_STABLE_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Why a node was left without a connection; shown to the person who imported.
NO_KEY = "the document names no connection for this node"
NOT_HERE = "no connection with this key here"
OTHER_APP = "the connection with this key is for another app"
REVOKED = "connection is revoked"
NOT_ALLOWED = "you may not use it"
OTHER_KIND = "connection uses another authentication method"


class BoundNode(NamedTuple):
    """A node that found its connection: (node label, connection label)."""

    node: str
    connection: str


class UnboundNode(NamedTuple):
    """A node left without a connection: (node label, app, stable key or None, reason)."""

    node: str
    app: str
    stable_key: str | None
    reason: str


@dataclass(frozen=True)
class ImportResult:
    """What an import created, and which nodes still need a connection picked."""

    workflow_id: str
    name: str
    bound: list[BoundNode]
    unbound: list[UnboundNode]


@dataclass(frozen=True)
class _PlannedNode:
    """A node of the document after validation: everything needed to write it."""

    label: str
    app: str
    action: str
    auth_kind: str | None
    params: dict[str, str]
    stable_key: str | None


# --- export -------------------------------------------------------------------------


def export_workflow(db: Session, *, actor: Actor, workflow_id: Any) -> dict[str, Any]:
    """The workflow as a portable document; any member who can see it may export it.

    A node whose connection is missing or not visible to the actor exports
    `"connection": null`, exactly like a node that never had one.
    """
    wf = workflow_scope.get_workflow(db, actor, workflow_id)  # not found comes first
    _refuse_clients(db, actor, "export", wf.id)
    nodes = db.exec(
        workflow_scope.nodes_query(actor).where(Node.workflow_id == wf.id).order_by(Node.position)  # type: ignore[arg-type]
    ).all()
    wanted = {n.connection_id for n in nodes if n.connection_id}
    keys: dict[str, str] = {}
    if wanted:
        rows = db.exec(
            connection_scope.connections_query(actor).where(Connection.id.in_(wanted))  # type: ignore[union-attr]
        ).all()
        keys = {c.id: c.stable_key for c in rows}
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": wf.name,
        "nodes": [
            {
                "label": n.label,
                "app": n.app,
                "action": n.action,
                "auth_kind": n.auth_kind,
                "params": {str(k): v for k, v in dict(n.params).items()},
                "connection": keys.get(n.connection_id) if n.connection_id else None,
            }
            for n in nodes
        ],
    }


def _refuse_clients(db: Session, actor: Actor, verb: str, workflow_id: Any) -> None:
    """F32: export and import are workspace tools (stable keys name the workspace's
    connections); a client builds in its portal and gets neither."""
    if actor.is_client:
        raise guard.refuse(
            db,
            actor,
            f"Your role does not allow you to {verb} workflows.",
            what=f"{verb} a workflow",
            target_type="workflow",
            target_id=str(workflow_id)[:64] if workflow_id else None,
        )


def find_workflow_id(db: Session, *, actor: Actor, name: Any) -> str:
    """The id of the actor's workflow with this name (case-insensitive): for the CLI."""
    text = clean_text(name, field="workflow", label="Workflow name", max_length=NAME_MAX)
    row = db.exec(
        workflow_scope.workflows_query(actor).where(Workflow.name_key == text.casefold())
    ).first()
    if row is None:
        raise NotFound(f"No workflow named “{_shown(text)}” here.")
    return row.id


# --- import: validation -------------------------------------------------------------


def _shown(value: Any, limit: int = 40) -> str:
    """A piece of hostile input made safe to quote in a one-line message."""
    return _CONTROL.sub("?", str(value))[:limit]


def _load(document: Any) -> dict[str, Any]:
    """Normalise the input to a parsed JSON object, bounded in size.

    A dict is serialised first, so that a document passed in-process obeys the same
    rules as one read from a file: JSON types only, no cycles, at most 1 MB.
    """
    if isinstance(document, dict):
        try:
            text = json.dumps(document, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            raise Invalid("The document is not valid JSON.", field="document") from None
    elif isinstance(document, bytes | bytearray):
        if len(document) > MAX_DOCUMENT_BYTES:
            raise _too_large()
        try:
            text = bytes(document).decode("utf-8-sig")  # a BOM from some editors is fine
        except UnicodeDecodeError:
            raise Invalid("The document is not valid JSON (not UTF-8).", field="document") from None
    elif isinstance(document, str):
        text = document
    else:
        raise Invalid("The document must be a JSON object.", field="document")
    if len(text) > MAX_DOCUMENT_BYTES or len(text.encode("utf-8", "replace")) > MAX_DOCUMENT_BYTES:
        raise _too_large()
    try:
        parsed = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise Invalid("The document is not valid JSON.", field="document") from None
    if not isinstance(parsed, dict):
        raise Invalid("The document must be a JSON object.", field="document")
    return parsed


def _too_large() -> Invalid:
    mb = MAX_DOCUMENT_BYTES / 1_000_000
    return Invalid(f"The document is too large (at most {mb:g} MB).", field="document")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse(document: Any) -> tuple[str, list[_PlannedNode]]:
    """Check the whole document; any fault raises `Invalid` naming where it is."""
    doc = _load(document)
    unknown = sorted(str(k) for k in doc if k not in _DOC_KEYS)
    if unknown:
        raise Invalid(f"The document has an unknown field “{_shown(unknown[0])}”.")
    if doc.get("format") != FORMAT:
        raise Invalid(f"This is not a workflow export (format must be “{FORMAT}”).")
    version = doc.get("version")
    if type(version) is not int or version != VERSION:
        raise Invalid(f"Unsupported export version: only version {VERSION} can be imported.")
    name = clean_text(doc.get("name"), field="name", label="Workflow name", max_length=NAME_MAX)
    nodes = doc.get("nodes")
    if not isinstance(nodes, list):
        raise Invalid("The document must list its nodes (“nodes”: [...]).")
    if len(nodes) > MAX_NODES:
        raise Invalid(
            f"A workflow export holds at most {MAX_NODES} nodes (this one has {len(nodes)})."
        )
    return name, [_parse_node(number, raw) for number, raw in enumerate(nodes, start=1)]


def _parse_node(number: int, raw: Any) -> _PlannedNode:
    where = f"Node {number}"
    if not isinstance(raw, dict):
        raise Invalid(f"{where} must be a JSON object.")
    unknown = sorted(str(k) for k in raw if k not in _NODE_KEYS)
    if unknown:
        raise Invalid(f"{where} has an unknown field “{_shown(unknown[0])}”.")
    app_def = _app(where, raw.get("app"))
    spec = _action(where, app_def, raw.get("action"))
    auth_kind = raw.get("auth_kind")
    if auth_kind == "":
        auth_kind = None
    kinds = {m.kind for m in app_def.auth_methods}
    if auth_kind is not None and (not isinstance(auth_kind, str) or auth_kind not in kinds):
        raise Invalid(
            f"{where}: {app_def.name} has no authentication method “{_shown(auth_kind)}”."
        )
    params = raw.get("params")
    try:
        cleaned = spec.validate_params({} if params is None else params)
    except Invalid as err:
        raise Invalid(f"{where}: {err.message}", field=err.field) from None
    label = raw.get("label")
    if label in (None, ""):
        label_text = spec.name
    else:
        try:
            label_text = clean_text(label, field="label", label="Label", max_length=NAME_MAX)
        except Invalid as err:
            raise Invalid(f"{where}: {err.message}", field="label") from None
    return _PlannedNode(
        label=label_text,
        app=app_def.key,
        action=spec.key,
        auth_kind=auth_kind,
        params=cleaned,
        stable_key=_stable_key(where, raw.get("connection")),
    )


def _app(where: str, value: Any) -> AppDefinition:
    if not isinstance(value, str) or not value:
        raise Invalid(f"{where}: the app must be named by its catalog key.")
    try:
        return get_catalog().get(value)
    except Invalid:
        raise Invalid(f"{where}: unknown app “{_shown(value)}”.") from None


def _action(where: str, app_def: AppDefinition, value: Any) -> ActionSpec:
    if not isinstance(value, str) or not value:
        raise Invalid(f"{where}: the action must be named by its key.")
    try:
        return app_def.action(value)
    except Invalid:
        raise Invalid(f"{where}: {app_def.name} has no action “{_shown(value)}”.") from None


def _stable_key(where: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 80:
        raise Invalid(f"{where}: the connection must be a stable key (at most 80 characters).")
    key = value.strip().lower()
    if not _STABLE_KEY.match(key):
        raise Invalid(
            f"{where}: the connection's stable key uses lowercase letters, digits, "
            "dashes and underscores."
        )
    return key


# --- import: binding and writing ----------------------------------------------------


def _bind(db: Session, actor: Actor, app: str, key: str, auth_kind: str | None) -> Connection | str:
    """The connection this key means here, or the reason there is none.

    Only connections usable in the actor's workspace for this app are candidates
    (the picker's query); the wider visible set is consulted only to explain why.
    """
    candidates = list(
        db.exec(
            connection_scope.usable_connections_query(actor, app=app).where(
                Connection.stable_key == key
            )
        ).all()
    )
    # A workspace's own connection and a granted account one may share a key:
    # prefer the workspace's own, as the nearer and more specific.
    candidates.sort(key=lambda c: (c.scope != Scope.WORKSPACE, c.id))
    reasons: list[str] = []
    for conn in candidates:
        if not policy.check(actor, Op.USE, conn):
            reasons.append(NOT_ALLOWED)
        elif conn.status == Status.REVOKED:
            reasons.append(REVOKED)
        elif auth_kind and conn.kind != auth_kind:
            reasons.append(OTHER_KIND)
        else:
            return conn
    if reasons:
        return reasons[0]
    visible = db.exec(
        connection_scope.connections_query(actor).where(Connection.stable_key == key)
    ).first()
    if visible is None:
        return NOT_HERE
    return OTHER_APP if visible.app != app else NOT_ALLOWED


def _taken(db: Session, actor: Actor, name: str) -> bool:
    stmt = workflow_scope.workflows_query(actor).where(Workflow.name_key == name.casefold())
    return db.exec(stmt).first() is not None


def _suffixed(base: str, n: int) -> str:
    suffix = " (imported)" if n == 1 else f" (imported {n})"
    return base[: NAME_MAX - len(suffix)].rstrip() + suffix


def _choose_name(db: Session, actor: Actor, doc_name: str, name: Any) -> str:
    """An explicit name must be free (Conflict); the document's gets a suffix if taken."""
    if name is not None:
        text = clean_text(name, field="name", label="Name", max_length=NAME_MAX)
        if _taken(db, actor, text):
            raise Conflict(f"A workflow named “{text}” already exists here.")
        return text
    if not _taken(db, actor, doc_name):
        return doc_name
    for n in range(1, _MAX_SUFFIX_TRIES + 1):
        candidate = _suffixed(doc_name, n)
        if not _taken(db, actor, candidate):
            return candidate
    raise Conflict(f"Too many workflows named like “{doc_name}”: choose a name.")


def import_workflow(db: Session, *, actor: Actor, document: Any, name: Any = None) -> ImportResult:
    """Create a workflow from an export document, binding nodes by stable key (F29).

    `document` is a dict, or the JSON text (str or bytes) of one. Builders and
    admins only. Nothing is written unless the whole document is valid; the
    workflow, its nodes and one `workflow_created` audit event commit together.
    """
    guard.require_build(db, actor, "import", what="import a workflow")
    _refuse_clients(db, actor, "import", None)
    assert actor.workspace_id is not None
    doc_name, planned = _parse(document)
    final_name = _choose_name(db, actor, doc_name, name)

    cache: dict[tuple[str, str, str | None], Connection | str] = {}
    bound: list[BoundNode] = []
    unbound: list[UnboundNode] = []
    targets: list[str | None] = []
    for plan in planned:
        if plan.stable_key is None:
            unbound.append(UnboundNode(plan.label, plan.app, None, NO_KEY))
            targets.append(None)
            continue
        lookup = (plan.app, plan.stable_key, plan.auth_kind)
        if lookup not in cache:
            cache[lookup] = _bind(db, actor, *lookup)
        found = cache[lookup]
        if isinstance(found, Connection):
            bound.append(BoundNode(plan.label, found.label))
            targets.append(found.id)
        else:
            unbound.append(UnboundNode(plan.label, plan.app, plan.stable_key, found))
            targets.append(None)

    try:
        wf = Workflow(
            account_id=actor.account_id,
            workspace_id=actor.workspace_id,
            name=final_name,
            name_key=final_name.casefold(),
            created_by=actor.user_id,
        )
        db.add(wf)
        db.flush()
        for position, (plan, connection_id) in enumerate(zip(planned, targets, strict=True), 1):
            db.add(
                Node(
                    workflow_id=wf.id,
                    workspace_id=actor.workspace_id,
                    position=position,
                    label=plan.label,
                    app=plan.app,
                    action=plan.action,
                    auth_kind=plan.auth_kind,
                    params=plan.params,
                    connection_id=connection_id,
                )
            )
        db.flush()
        audit.record(
            db,
            account_id=actor.account_id,
            workspace_id=actor.workspace_id,
            action=audit.Action.WORKFLOW_CREATED,
            target_type="workflow",
            target_id=wf.id,
            actor_id=actor.user_id,
            actor_label=actor.label,
            detail={
                "name": final_name,
                "imported": True,
                "nodes": len(planned),
                "unbound": len(unbound),
            },
        )
        db.commit()
    except IntegrityError:
        # Another import or create took the name between our check and the insert.
        db.rollback()
        raise Conflict(f"A workflow named “{final_name}” already exists here.") from None
    except BaseException:
        db.rollback()
        raise
    return ImportResult(workflow_id=wf.id, name=final_name, bound=bound, unbound=unbound)
