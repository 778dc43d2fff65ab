"""Row builders: core read-models turned into the typed rows that page states hold.

Kept apart from the states so that states need not import each other for a row
shape (that is how the add-connection / node-panel / builder circle began). Rows
are frozen dataclasses of plain values (Reflex 0.10 serializes them and components
index them like dicts); what a person may do travels as the core's
`ConnectionActions`, never as "1"/"" flags or kind/status comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connections_app.core.catalog import AuthMethod, get_catalog
from connections_app.core.connections.views import ConnectionActions, ConnectionView
from connections_app.core.workflows.runs import RunView
from connections_app.core.workflows.service import NodeView
from connections_app.ui.formatting import SHARING_LABELS, expiry, when


@dataclass(frozen=True)
class ConnectionRow:
    id: str = ""
    label: str = ""
    app: str = ""
    app_name: str = ""
    app_icon: str = ""
    kind: str = ""
    status: str = ""
    status_reason: str = ""
    sharing: str = ""
    sharing_label: str = ""
    masked_tail: str = ""
    last_used: str = ""
    use_count: str = ""
    expires: str = ""
    scope: str = ""
    actions: ConnectionActions = field(default_factory=ConnectionActions)


def masked(view: ConnectionView) -> str:
    return f"••••{view.masked_tail}" if view.masked_tail else "••••"


def connection_row(view: ConnectionView) -> ConnectionRow:
    return ConnectionRow(
        id=view.id,
        label=view.label,
        app=view.app,
        app_name=view.app_name,
        app_icon=view.app_icon,
        kind=view.kind,
        status=view.status,
        status_reason=view.status_reason or "",
        sharing=view.sharing,
        sharing_label=SHARING_LABELS.get(view.sharing, view.sharing),
        masked_tail=masked(view),
        last_used=when(view.last_used_at),
        use_count=str(view.use_count),
        expires=expiry(view.token_expires_at),
        scope="Granted" if view.granted else "Workspace",
        actions=view.actions,
    )


@dataclass(frozen=True)
class AppCard:
    """One app in the Add dialog's catalog step (static per process)."""

    key: str = ""
    name: str = ""
    icon: str = ""
    category: str = ""
    description: str = ""
    oauth_only: bool = False  # the catalog offers no form for it: sign-in only
    search: str = ""


def app_cards() -> list[AppCard]:
    return [
        AppCard(
            key=a.key,
            name=a.name,
            icon=a.icon,
            category=a.category,
            description=a.description,
            oauth_only=not a.form_methods,
            search=f"{a.name} {a.key} {a.category}".casefold(),
        )
        for a in get_catalog().apps
    ]


@dataclass(frozen=True)
class FieldRow:
    """A form input described by the catalog (a credential field or an action
    parameter); secret inputs stay uncontrolled, `default` is the value shown."""

    name: str = ""
    label: str = ""
    masked: bool = False
    required: bool = False
    placeholder: str = ""
    help: str = ""
    default: str = ""
    max_length: int = 0


def field_rows(method: AuthMethod) -> list[FieldRow]:
    return [
        FieldRow(
            name=f.name,
            label=f.label,
            masked=f.secret,
            required=f.required,
            placeholder=f.placeholder,
            help=f.help,
            default=f.default or "",
            max_length=f.limit,
        )
        for f in method.fields
    ]


def param_rows(app_key: str, action_key: str, values: dict[str, str]) -> list[FieldRow]:
    """A node action's parameters as form inputs, each with its current value."""
    spec = get_catalog().get(app_key).action(action_key)
    return [
        FieldRow(
            name=p.name,
            label=p.label,
            placeholder=p.placeholder,
            required=p.required,
            default=values.get(p.name, ""),
            max_length=p.max_length,
        )
        for p in spec.params
    ]


@dataclass(frozen=True)
class PickerOption:
    """A connection a node may use, as the node panel's picker lists it."""

    id: str = ""
    label: str = ""
    status: str = ""
    tail: str = ""
    who: str = ""
    used: str = ""
    selected: bool = False


def picker_options(items: list[ConnectionView], selected_id: str) -> list[PickerOption]:
    return [
        PickerOption(
            id=v.id,
            label=v.label,
            status=v.status,
            tail=f"••••{v.masked_tail}" if v.masked_tail else "",
            who=v.external_name or "",
            used=when(v.last_used_at),
            selected=v.id == selected_id,
        )
        for v in items
    ]


@dataclass(frozen=True)
class ActionChoice:
    """An (app, action) pair a node can be, for the Add node dialog (static)."""

    value: str = ""
    label: str = ""
    icon: str = ""


def action_choices() -> list[ActionChoice]:
    return [
        ActionChoice(
            value=f"{app.key}:{action.key}", label=f"{app.name} · {action.name}", icon=app.icon
        )
        for app in get_catalog().apps
        for action in app.actions
    ]


@dataclass(frozen=True)
class NodeRow:
    id: str = ""
    position: int = 0
    label: str = ""
    app: str = ""
    app_name: str = ""
    icon: str = ""
    action_name: str = ""
    summary: str = ""
    connection_label: str = ""
    conn_state: str = ""  # none | missing | a connection status (for its badge)


def node_row(view: NodeView) -> NodeRow:
    if view.connection_id is None:
        conn_state = "none"
    elif view.connection_status is None:
        conn_state = "missing"
    else:
        conn_state = view.connection_status
    return NodeRow(
        id=view.id,
        position=view.position,
        label=view.label,
        app=view.app,
        app_name=view.app_name,
        icon=get_catalog().get(view.app).icon,
        action_name=view.action_name,
        summary=", ".join(f"{k}: {v}" for k, v in view.params.items())[:120],
        connection_label=view.connection_label or "",
        conn_state=conn_state,
    )


STEP_ICONS = {
    "pending": "circle-dashed",
    "running": "loader",
    "waiting": "pause",
    "succeeded": "circle-check",
    "failed": "circle-x",
    "skipped": "circle-minus",
}


@dataclass(frozen=True)
class RunRow:
    id: str = ""
    workflow: str = ""
    workflow_id: str = ""
    mode: str = ""
    status: str = ""
    message: str = ""
    started_by: str = ""
    when: str = ""
    progress: str = ""
    waiting: bool = False  # parked on a connection; Retry is offered
    failed: bool = False


def run_row(view: RunView) -> RunRow:
    return RunRow(
        id=view.id,
        workflow=view.workflow_name,
        workflow_id=view.workflow_id or "",
        mode=view.mode,
        status=view.status,
        message=view.message or "",
        started_by=view.started_by,
        when=when(view.created_at),
        progress=f"{view.steps_done} of {len(view.steps)} steps",
        waiting=view.waiting,
        failed=view.failed,
    )


@dataclass(frozen=True)
class StepRow:
    key: str = ""
    position: int = 0
    label: str = ""
    app_name: str = ""
    action_name: str = ""
    connection: str = ""
    status: str = ""
    icon: str = ""
    message: str = ""
    http_status: str = ""
    result: str = ""
    attempts: int = 0


def step_rows(view: RunView) -> list[StepRow]:
    return [
        StepRow(
            key=f"{view.id}-{s.position}",
            position=s.position,
            label=s.label,
            app_name=s.app_name,
            action_name=s.action_name,
            connection=s.connection_label or "",
            status=s.status,
            icon=STEP_ICONS.get(s.status, "circle"),
            message=s.message or "",
            http_status=str(s.http_status or ""),
            result=s.result[:400],
            attempts=s.attempts,
        )
        for s in view.steps
    ]
