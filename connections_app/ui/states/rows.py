"""Row builders: core read-models turned into the typed rows that page states hold.

Kept apart from the states so that states need not import each other for a row
shape (that is how the add-connection / node-panel / builder circle began). Rows
are frozen dataclasses of plain values (Reflex 0.10 serializes them and components
index them like dicts); what a person may do travels as the core's
`ConnectionActions`, never as "1"/"" flags or kind/status comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from connections_app.core.audit_log import AuditPage
from connections_app.core.catalog import AuthMethod, get_catalog
from connections_app.core.connections.grants import GrantView
from connections_app.core.connections.views import (
    ConnectionActions,
    ConnectionView,
    Health,
    Usage,
)
from connections_app.core.errors import Invalid
from connections_app.core.portal import PortalConnection
from connections_app.core.workflows.runs import RunView
from connections_app.core.workflows.service import NodeView
from connections_app.ui.formatting import SHARING_LABELS, exact, expiry, when


@dataclass(frozen=True)
class Labelled:
    """Most rows name a thing by id and show its label."""

    id: str = ""
    label: str = ""


@dataclass(frozen=True)
class ConnectionHead:
    """What every line about a connection shows (list row, details panel head)."""

    label: str = ""
    app_name: str = ""
    app_icon: str = ""
    kind: str = ""
    status: str = ""
    status_reason: str = ""
    sharing: str = ""
    sharing_label: str = ""
    masked_tail: str = ""


def masked(view: ConnectionView) -> str:
    return f"••••{view.masked_tail}" if view.masked_tail else "••••"


def _head(view: ConnectionView) -> dict[str, str]:
    copied = ("label", "app_name", "app_icon", "kind", "status", "sharing")
    return {
        **{name: getattr(view, name) for name in copied},
        "status_reason": view.status_reason or "",
        "sharing_label": SHARING_LABELS.get(view.sharing, view.sharing),
        "masked_tail": masked(view),
    }


@dataclass(frozen=True)
class ConnectionRow(ConnectionHead):
    id: str = ""
    app: str = ""
    last_used: str = ""
    use_count: str = ""
    expires: str = ""
    scope: str = ""
    granted_by: str = ""  # the account's name on a granted account connection
    authorized_by: str = ""  # "Authorized by <client>" (F24), or ""
    actions: ConnectionActions = field(default_factory=ConnectionActions)
    embedded: bool = False  # F32: exposed to the clients' embedded workflows


def authorized_line(view: ConnectionView) -> str:
    return f"Authorized by {view.authorized_by_name}" if view.authorized_by_name else ""


def connection_row(view: ConnectionView) -> ConnectionRow:
    return ConnectionRow(
        **_head(view),
        id=view.id,
        app=view.app,
        last_used=when(view.last_used_at),
        use_count=str(view.use_count),
        expires=expiry(view.token_expires_at),
        scope=view.scope_label,
        granted_by=view.granted_by,
        authorized_by=authorized_line(view),
        actions=view.actions,
        embedded=view.embedded_enabled,
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
    # How an action parameter is entered, as the catalog declares it: one of a fixed
    # list (a select) or several lines (a textarea); empty/False is one line of text.
    choices: list[str] = field(default_factory=list)
    multiline: bool = False


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
            help=p.help,
            required=p.required,
            default=values.get(p.name, p.default or ""),
            max_length=p.max_length,
            choices=list(p.choices),
            multiline=p.multiline,
        )
        for p in spec.params
    ]


@dataclass(frozen=True)
class PickerOption(Labelled):
    """A connection a node may use, as the node panel's picker lists it."""

    status: str = ""
    tail: str = ""
    who: str = ""
    used: str = ""
    selected: bool = False
    granted: str = ""  # "Granted by <account>" on an account connection


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
            granted=f"Granted by {v.granted_by}" if v.granted_by else "",
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
class NodeRow(Labelled):
    position: int = 0
    app: str = ""
    app_name: str = ""
    icon: str = ""
    action_name: str = ""
    summary: str = ""
    connection_label: str = ""
    conn_state: str = ""  # none | missing | ungranted | unavailable | a connection status


def node_row(view: NodeView) -> NodeRow:
    if view.connection_id is None:
        conn_state = "none"
    elif view.connection_ungranted:
        conn_state = "ungranted"
    elif view.connection_unavailable:
        conn_state = "unavailable"
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
    nothing_ran: bool = False  # finished with every step skipped: it says why


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
        progress=view.summary,
        waiting=view.waiting,
        failed=view.failed,
        nothing_ran=view.nothing_ran,
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


# --- one connection: the details panel and its dialogs --------------------------------


@dataclass(frozen=True)
class ConnectionSummary(ConnectionHead):
    """The head of the details panel."""

    stable_key: str = ""
    scope: str = ""
    created: str = ""
    updated: str = ""
    external: str = ""
    reconnect_url: str = ""
    authorized_by: str = ""  # "Authorized by <client>" (F24), or ""
    # One message per state (the core's `Health.notice`): why it is not active, else
    # what its latest test said; shown once, never beside a stale one.
    notice: str = ""
    notice_ok: bool = False
    test_tail: str = ""
    embedded: bool = False  # F32: "Use for embedded workflows" is on


def _test_tail(view: ConnectionView) -> str:
    if view.test_masked_tail:
        return f"••••{view.test_masked_tail}"
    return "set" if view.has_test_credentials else "none"


def _reconnect_url(view: ConnectionView, api_url: str) -> str:
    """Where "Reconnect" starts the OAuth popup; empty when this person may not reconnect."""
    if not view.actions.reconnect:
        return ""
    return f"{api_url}/oauth/start?" + urlencode({"app": view.app, "target": view.id})


def connection_summary(view: ConnectionView, health: Health, api_url: str) -> ConnectionSummary:
    return ConnectionSummary(
        **_head(view),
        notice=health.notice or "",
        notice_ok=health.notice_ok,
        test_tail=_test_tail(view),
        stable_key=view.stable_key,
        scope=view.scope_label,
        created=exact(view.created_at),
        updated=exact(view.updated_at),
        external=view.external_name or view.external_identity or "",
        reconnect_url=_reconnect_url(view, api_url),
        authorized_by=authorized_line(view),
        embedded=view.embedded_enabled,
    )


@dataclass(frozen=True)
class Pair:
    """A label and its value (settings, health figures)."""

    label: str = ""
    value: str = ""


def config_pairs(view: ConnectionView) -> list[Pair]:
    if view.config is None:
        return []
    labels: dict[str, str] = {}
    try:
        method = get_catalog().get(view.app).auth_method(view.kind)
        labels = {f.name: f.label for f in method.config_fields}
    except (Invalid, KeyError, ValueError):
        pass
    return [Pair(labels.get(k, k), str(v)) for k, v in sorted(view.config.items())]


def health_pairs(view: ConnectionView, health: Health) -> list[Pair]:
    if health.last_tested_at is None:
        last_test = "Never tested"
    else:
        outcome = "passed" if health.last_test_ok else "failed"
        last_test = f"{when(health.last_tested_at)} · {outcome}"
    return [
        Pair("Status", view.status.capitalize()),
        Pair("Last successful use", when(health.last_success_at)),
        Pair("Last used", when(health.last_used_at)),
        Pair("Uses", str(view.use_count)),
        Pair("Last test", last_test),
        Pair("Token expiry", expiry(health.token_expires_at) or "Does not expire"),
        Pair("Failures in the last 24 h", str(health.failures_24h)),
    ]


@dataclass(frozen=True)
class UsageRow:
    workflow: str = ""
    node: str = ""
    workflow_id: str = ""


def usage_rows(found: list[Usage]) -> list[UsageRow]:
    """An account connection's usages name their workspace too (it has several)."""
    return [
        UsageRow(
            f"{u.workspace_name} · {u.workflow_name}" if u.workspace_name else u.workflow_name,
            u.node_label,
            u.workflow_id,
        )
        for u in found
    ]


@dataclass(frozen=True)
class AuditRow:
    """One audit line (the workspace log, a connection's history)."""

    when: str = ""
    exact: str = ""
    actor: str = ""
    action: str = ""
    outcome: str = ""
    target: str = ""
    summary: str = ""


@dataclass(frozen=True)
class PortalRow(ConnectionHead):
    """One connection in a client's portal: no configuration, no secret."""

    id: str = ""
    last_used: str = ""
    workflows: str = ""  # the names of the workflows using it, or ""
    reconnect_url: str = ""
    actions: ConnectionActions = field(default_factory=ConnectionActions)


def portal_rows(items: list[PortalConnection], api_url: str) -> list[PortalRow]:
    return [
        PortalRow(
            **_head(i.connection),
            id=i.connection.id,
            last_used=when(i.connection.last_used_at),
            workflows=", ".join(i.workflows),
            reconnect_url=_reconnect_url(i.connection, api_url),
            actions=i.connection.actions,
        )
        for i in items
    ]


def audit_rows(page: AuditPage) -> list[AuditRow]:
    return [
        AuditRow(when(e.at), exact(e.at), e.actor, e.action_label, e.outcome, e.target, e.summary)
        for e in page.items
    ]


def secret_inputs(view: ConnectionView) -> list[FieldRow]:
    """The inputs that take a new credential (Rotate, or Edit after a destination change)."""
    method = get_catalog().get(view.app).auth_method(view.kind)
    return [
        FieldRow(name=f.name, label=f.label, masked=True, placeholder=f.placeholder, help=f.help)
        for f in method.secret_fields
    ]


def settings_inputs(view: ConnectionView) -> list[FieldRow]:
    """Settings as the Edit form shows them; the catalog says which are destinations."""
    method = get_catalog().get(view.app).auth_method(view.kind)
    config = view.config or {}
    return [
        FieldRow(
            name=f.name,
            label=f.label,
            default=str(config.get(f.name, "")),
            placeholder=f.placeholder,
            help=(f.help + " " if f.help else "")
            + ("Changing it clears the stored credential." if f.destination else ""),
        )
        for f in method.config_fields
    ]


@dataclass(frozen=True)
class ReauthRow(Labelled):
    """One line of the "needs to be reauthorized" banner (F21)."""

    app_name: str = ""
    app_icon: str = ""
    reason: str = ""
    reconnect_url: str = ""  # empty: this person cannot reconnect it (asks an admin)


def reauth_rows(views: list[ConnectionView], api_url: str) -> list[ReauthRow]:
    return [
        ReauthRow(
            id=v.id,
            label=v.label,
            app_name=v.app_name,
            app_icon=v.app_icon,
            reason=v.status_reason or "",
            reconnect_url=_reconnect_url(v, api_url),
        )
        for v in views
    ]


# --- small choices -----------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A value and what the person reads for it (auth kinds, workspaces)."""

    value: str = ""
    label: str = ""
    note: str = ""  # e.g. the person's role in that workspace


@dataclass(frozen=True)
class WorkflowItem(Labelled):
    """A workflow in the builder's list (`label` is its name)."""

    nodes: int = 0


@dataclass(frozen=True)
class ImportLine:
    """How one imported node was bound (F29)."""

    node: str = ""
    bound: bool = False
    detail: str = ""


@dataclass(frozen=True)
class GrantRow:
    """One grant of an account connection, as the account screens and LLM Keys show it."""

    id: str = ""
    workspace: str = ""
    cap: str = ""  # "$5.00" or "No cap"
    cap_input: str = ""  # the cap as the change form pre-fills it ("5.00", "" for none)
    has_cap: bool = False
    spent: str = ""
    percent: int = 0
    over_cap: bool = False


@dataclass(frozen=True)
class AccountCard:
    """An account connection with its grants (the account screens' list)."""

    connection: ConnectionRow = field(default_factory=ConnectionRow)
    grants: list[GrantRow] = field(default_factory=list)


def grant_row(view: GrantView) -> GrantRow:
    cents = view.cap_cents
    return GrantRow(
        id=view.id,
        workspace=view.workspace_name,
        cap=view.cap_label,
        cap_input="" if cents is None else f"{cents // 100}.{cents % 100:02d}",
        has_cap=cents is not None,
        spent=view.spent_label,
        percent=view.percent,
        over_cap=view.over_cap,
    )
