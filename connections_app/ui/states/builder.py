"""The Builder page: workflows, their nodes, runs started from here, export and import.

Every handler re-derives the actor from the session and passes the browser's
arguments to the core as hostile input (another workspace's ids are simply not
found there). Only read-models live here: names, labels, statuses, never a
credential, because a node only refers to a connection by id.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import reflex as rx
from sqlmodel import Session

from connections_app.core.catalog import get_catalog
from connections_app.core.db import get_engine, read_scope, session_scope
from connections_app.core.errors import DomainError, Unauthenticated
from connections_app.core.tenancy import Actor, can_build
from connections_app.core.workflows import runs, transfer
from connections_app.core.workflows import service as workflows
from connections_app.ui import formatting
from connections_app.ui.states.session import SessionState

STEP_ICONS = {
    "pending": "circle-dashed",
    "running": "loader",
    "waiting": "pause",
    "succeeded": "circle-check",
    "failed": "circle-x",
    "skipped": "circle-minus",
}


def action_choices() -> list[dict[str, str]]:
    """Every (app, action) pair a node can be, for the Add node dialog (static)."""
    return [
        {
            "value": f"{app.key}:{action.key}",
            "label": f"{app.name} · {action.name}",
            "icon": app.icon,
        }
        for app in get_catalog().apps
        for action in app.actions
    ]


def param_rows(app_key: str, action_key: str, values: dict[str, str]) -> list[dict[str, str]]:
    spec = get_catalog().get(app_key).action(action_key)
    return [
        {
            "name": p.name,
            "label": p.label,
            "placeholder": p.placeholder,
            "required": "1" if p.required else "",
            "value": values.get(p.name, ""),
            "max_length": str(p.max_length),
        }
        for p in spec.params
    ]


def _node_row(view: workflows.NodeView) -> dict[str, str]:
    app = get_catalog().get(view.app)
    if view.connection_id is None:
        conn_state = "none"
    elif view.connection_status is None:
        conn_state = "missing"
    else:
        conn_state = view.connection_status
    return {
        "id": view.id,
        "position": str(view.position),
        "label": view.label,
        "app": view.app,
        "app_name": view.app_name,
        "icon": app.icon,
        "action_name": view.action_name,
        "summary": ", ".join(f"{k}: {v}" for k, v in view.params.items())[:120],
        "connection_label": view.connection_label or "",
        "conn_state": conn_state,
    }


def run_row(view: runs.RunView) -> dict[str, str]:
    return {
        "id": view.id,
        "workflow": view.workflow_name,
        "workflow_id": view.workflow_id or "",
        "mode": view.mode,
        "status": view.status,
        "message": view.message or "",
        "started_by": view.started_by,
        "when": formatting.when(view.created_at),
        "progress": view.summary,
    }


def step_rows(view: runs.RunView) -> list[dict[str, str]]:
    return [
        {
            "key": f"{view.id}-{s.position}",
            "position": str(s.position),
            "label": s.label,
            "app_name": s.app_name,
            "action_name": s.action_name,
            "connection": s.connection_label or "",
            "status": s.status,
            "icon": STEP_ICONS.get(s.status, "circle"),
            "message": s.message or "",
            "http_status": str(s.http_status or ""),
            "result": s.result[:400],
            "attempts": str(s.attempts),
        }
        for s in view.steps
    ]


class BuilderState(SessionState):
    loaded: bool = False
    error: str = ""
    can_edit: bool = False
    workflows: list[dict[str, str]] = []
    selected_id: str = ""
    selected_name: str = ""
    nodes: list[dict[str, str]] = []
    # The newest run of the selected workflow, shown live under the nodes.
    last_run: dict[str, str] = {}
    last_steps: list[dict[str, str]] = []
    busy: str = ""
    # dialogs
    create_open: bool = False
    rename_open: bool = False
    delete_open: bool = False
    add_open: bool = False
    add_choice: str = ""
    add_fields: list[dict[str, str]] = []
    add_form_key: int = 0
    remove_open: bool = False
    remove_id: str = ""
    remove_label: str = ""
    import_open: bool = False
    import_report: list[dict[str, str]] = []
    form_error: str = ""

    # --- helpers -----------------------------------------------------------------------

    def _me(self) -> Actor | None:
        try:
            return self._actor()
        except Unauthenticated:
            return None

    def _on_workspace_change(self) -> None:
        if self.loaded:  # node statuses and the latest run, live
            self._reload()

    def _reload(self) -> None:
        """Re-read everything for whoever this tab's session is (alerts call it too)."""
        actor = self._me()
        if actor is None:
            return
        with read_scope() as db:
            listed = workflows.list_workflows(db, actor=actor)
            self.workflows = [
                {"id": w.id, "name": w.name, "nodes": str(w.node_count)} for w in listed
            ]
            ids = {w.id for w in listed}
            if self.selected_id not in ids:
                self.selected_id = listed[0].id if listed else ""
            self.selected_name = next((w.name for w in listed if w.id == self.selected_id), "")
            nodes, newest = [], None
            if self.selected_id:
                nodes = workflows.list_nodes(db, actor=actor, workflow_id=self.selected_id)
                newest = runs.latest(db, actor=actor, workflow_id=self.selected_id)
            self.nodes = [_node_row(n) for n in nodes]
        self.can_edit = can_build(actor)
        if newest is not None:
            self.last_run, self.last_steps = run_row(newest), step_rows(newest)
        else:
            self.last_run, self.last_steps = {}, []
        self.loaded = True

    def _guarded(self, work: Callable[[Session, Actor], Any], success: str = "") -> Any:
        """Run one core call as the session's actor; a domain error becomes a toast."""
        try:
            actor = self._actor()
        except Unauthenticated:
            return self._sign_in_redirect()
        try:
            with session_scope() as db:
                work(db, actor)
        except DomainError as err:
            self._reload()
            return rx.toast.error(str(err))
        self._reload()
        return rx.toast.success(success) if success else None

    def _form_call(self, work: Callable[[Session, Actor], Any]) -> tuple[bool, Any]:
        """A dialog's core call: (True, result), or (False, what to return) after putting
        the domain error in the dialog (it stays open) or sending a signed-out tab away."""
        try:
            actor = self._actor()
            with session_scope() as db:
                return True, work(db, actor)
        except Unauthenticated:
            return False, self._sign_in_redirect()
        except DomainError as err:
            self.form_error = str(err)
            return False, None

    # --- loading and selection -----------------------------------------------------------

    @rx.event
    def load(self) -> Any:
        if self._me() is None:
            return self._sign_in_redirect()
        wanted = self.router.url.query_parameters.get("wf")
        if isinstance(wanted, str) and wanted:
            self.selected_id = wanted[:64]
        self.error = ""
        self._reload()
        return None

    @rx.event
    def refresh_view(self) -> None:
        if self.loaded:
            self._reload()

    @rx.event
    def select(self, workflow_id: Any) -> None:
        if isinstance(workflow_id, str) and 0 < len(workflow_id) <= 64:
            self.selected_id = workflow_id
            self._reload()

    # --- workflows -----------------------------------------------------------------------

    @rx.event
    def open_create(self) -> None:
        self.form_error, self.create_open = "", True

    @rx.event
    def create_open_changed(self, value: Any) -> None:
        if value is False:
            self.create_open = False

    @rx.event
    def create(self, form: dict) -> Any:
        name = form.get("name") if isinstance(form, dict) else None
        ok, made = self._form_call(
            lambda db, actor: workflows.create_workflow(db, actor=actor, name=name)
        )
        if not ok:
            return made
        self.create_open, self.selected_id = False, made.id
        self._reload()
        return rx.toast.success(f"Workflow “{made.name}” created. Add its first node.")

    @rx.event
    def open_rename(self) -> None:
        if self.selected_id:
            self.form_error, self.rename_open = "", True

    @rx.event
    def rename_open_changed(self, value: Any) -> None:
        if value is False:
            self.rename_open = False

    @rx.event
    def rename(self, form: dict) -> Any:
        name, target = (form.get("name") if isinstance(form, dict) else None), self.selected_id
        ok, outcome = self._form_call(
            lambda db, actor: workflows.rename_workflow(
                db, actor=actor, workflow_id=target, name=name
            )
        )
        if not ok:
            return outcome
        self.rename_open = False
        self._reload()
        return rx.toast.success("Renamed.")

    @rx.event
    def open_delete(self) -> None:
        if self.selected_id:
            self.delete_open = True

    @rx.event
    def delete_open_changed(self, value: Any) -> None:
        if value is False:
            self.delete_open = False

    @rx.event
    def confirm_delete(self) -> Any:
        target, name = self.selected_id, self.selected_name
        self.delete_open = False
        return self._guarded(
            lambda db, actor: workflows.delete_workflow(db, actor=actor, workflow_id=target),
            f"Workflow “{name}” deleted.",
        )

    # --- nodes ---------------------------------------------------------------------------

    @rx.event
    def open_add(self) -> None:
        if not self.selected_id:
            return
        self.add_choice, self.add_fields, self.form_error = "", [], ""
        self.add_form_key += 1
        self.add_open = True

    @rx.event
    def add_open_changed(self, value: Any) -> None:
        if value is False:
            self.add_open = False

    @rx.event
    def choose_action(self, value: Any) -> None:
        if not isinstance(value, str) or ":" not in value:
            return
        app_key, _, action_key = value.partition(":")
        try:
            self.add_fields = param_rows(app_key, action_key, {})
        except DomainError:
            return
        self.add_choice, self.form_error = value, ""
        self.add_form_key += 1

    @rx.event
    def add_node(self, form: dict) -> Any:
        if not isinstance(form, dict) or not self.add_choice:
            self.form_error = "Choose what the node does."
            return None
        app_key, _, action_key = self.add_choice.partition(":")
        names = {f["name"] for f in self.add_fields}
        params = {k: v for k, v in form.items() if k in names and v != ""}
        label, target = form.get("cx_node_label") or None, self.selected_id
        ok, made = self._form_call(
            lambda db, actor: workflows.add_node(
                db,
                actor=actor,
                workflow_id=target,
                app=app_key,
                action=action_key,
                params=params,
                label=label,
            )
        )
        if not ok:
            return made
        self.add_open = False
        self._reload()
        from connections_app.ui.states.node_panel import NodePanelState

        return [
            NodePanelState.open_panel(made.id),
            rx.toast.success(f"“{made.label}” added. Pick the connection it uses."),
        ]

    @rx.event
    def move(self, node_id: Any, direction: Any) -> Any:
        return self._guarded(
            lambda db, actor: workflows.move_node(
                db, actor=actor, node_id=node_id, direction=direction
            )
        )

    @rx.event
    def ask_remove(self, node_id: Any) -> None:
        row = next((n for n in self.nodes if n["id"] == node_id), None)
        if row is not None:
            self.remove_id, self.remove_label, self.remove_open = row["id"], row["label"], True

    @rx.event
    def remove_open_changed(self, value: Any) -> None:
        if value is False:
            self.remove_open = False

    @rx.event
    def confirm_remove(self) -> Any:
        node_id, label = self.remove_id, self.remove_label
        self.remove_open, self.remove_id = False, ""
        return self._guarded(
            lambda db, actor: workflows.remove_node(db, actor=actor, node_id=node_id),
            f"“{label}” removed.",
        )

    # --- runs ----------------------------------------------------------------------------

    @rx.event(background=True)
    async def run(self, mode: Any = "live") -> Any:
        async with self:
            if self.busy or not self.selected_id:
                return None
            try:
                actor = self._actor()
            except Unauthenticated:
                return self._sign_in_redirect()
            self.busy = "run"
            workflow_id = self.selected_id
        engine = get_engine()
        try:
            await asyncio.to_thread(
                runs.run_now,
                lambda: Session(engine, expire_on_commit=False),
                actor=actor,
                workflow_id=workflow_id,
                mode=mode,
            )
            failure = ""
        except DomainError as err:
            failure = str(err)
        async with self:
            self.busy = ""
            self._reload()
            status = self.last_run.get("status", "")
        if failure:
            return rx.toast.error(failure)
        if status == "waiting":
            return rx.toast.warning(
                "The run is waiting for a connection to be reconnected; it continues by itself."
            )
        if status == "failed":
            return rx.toast.error("The run failed. See the steps below.")
        if status == "nothing_ran":
            return rx.toast.warning(self.last_run.get("message") or "Nothing ran.")
        return rx.toast.success("Run finished.")

    @rx.event(background=True)
    async def retry(self, run_id: Any) -> Any:
        async with self:
            if self.busy:
                return None
            try:
                actor = self._actor()
            except Unauthenticated:
                return self._sign_in_redirect()
            self.busy = "run"
        failure = await asyncio.to_thread(_retry, actor, run_id)
        async with self:
            self.busy = ""
            self._reload()
        return rx.toast.error(failure) if failure else None

    # --- export and import ----------------------------------------------------------------

    @rx.event
    def export(self) -> Any:
        try:
            actor = self._actor()
            with session_scope() as db:
                document = transfer.export_workflow(db, actor=actor, workflow_id=self.selected_id)
        except Unauthenticated:
            return self._sign_in_redirect()
        except DomainError as err:
            return rx.toast.error(str(err))
        slug = "".join(c if c.isalnum() else "-" for c in self.selected_name.lower()).strip("-")
        return rx.download(
            data=json.dumps(document, indent=2, ensure_ascii=False),
            filename=f"{slug or 'workflow'}.workflow.json",
        )

    @rx.event
    def open_import(self) -> None:
        self.form_error, self.import_report, self.import_open = "", [], True

    @rx.event
    def import_open_changed(self, value: Any) -> None:
        if value is False:
            self.import_open = False

    @rx.event
    def import_document(self, form: dict) -> Any:
        text = form.get("document") if isinstance(form, dict) else None
        if not isinstance(text, str) or not text.strip():
            self.form_error = "Paste an exported workflow (JSON)."
            return None
        ok, result = self._form_call(
            lambda db, actor: transfer.import_workflow(db, actor=actor, document=text)
        )
        if not ok:
            return result
        self.form_error = ""
        self.selected_id = result.workflow_id
        self.import_report = [
            {"node": node, "outcome": "bound", "detail": f"→ {conn}"} for node, conn in result.bound
        ] + [{"node": u[0], "outcome": "unbound", "detail": u[-1]} for u in result.unbound]
        self._reload()
        return rx.toast.success(
            f"Imported “{result.name}”: {len(result.bound)} node(s) bound, "
            f"{len(result.unbound)} to pick."
        )

    @rx.var
    def action_choices(self) -> list[dict[str, str]]:
        return _ACTIONS


def _retry(actor: Actor, run_id: Any) -> str:
    try:
        with session_scope() as db:
            runs.retry(db, actor=actor, run_id=run_id)
    except DomainError as err:
        return str(err)
    return ""


_ACTIONS = action_choices()
