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
from dataclasses import dataclass
from typing import Any

import reflex as rx
from sqlmodel import Session

from connections_app.core.db import get_engine
from connections_app.core.errors import DomainError
from connections_app.core.tenancy.actor import Actor
from connections_app.core.workflows import runs, transfer
from connections_app.core.workflows import service as workflows
from connections_app.ui.states.core_call import myself
from connections_app.ui.states.rows import (
    ActionChoice,
    FieldRow,
    ImportLine,
    NodeRow,
    RunRow,
    StepRow,
    WorkflowItem,
    action_choices,
    node_row,
    param_rows,
    run_row,
    step_rows,
)
from connections_app.ui.states.session import SessionState


class BuilderState(SessionState):
    loaded: bool = False
    error: str = ""
    can_edit: bool = False
    # Export, import (the core's answer: not for clients, whose world is their own
    # workflows) and where "All runs" goes (a portal page has none of its own yet).
    can_transfer: bool = False
    runs_page: str = ""
    workflows: list[WorkflowItem] = []
    selected_id: str = ""
    selected_name: str = ""
    nodes: list[NodeRow] = []
    # The newest run of the selected workflow, shown live under the nodes.
    last_run: RunRow = RunRow()
    last_steps: list[StepRow] = []
    busy: str = ""
    # dialogs
    create_open: bool = False
    rename_open: bool = False
    delete_open: bool = False
    add_open: bool = False
    add_choice: str = ""
    add_fields: list[FieldRow] = []
    added_node_id: str = ""
    add_form_key: int = 0
    remove_open: bool = False
    remove_id: str = ""
    remove_label: str = ""
    import_open: bool = False
    import_report: list[ImportLine] = []
    form_error: str = ""

    # --- helpers -----------------------------------------------------------------------

    async def _on_workspace_change(self) -> None:
        if self.loaded:  # node statuses and the latest run, live
            await self._reload()

    async def _reload(self, *, ref: str | None = None) -> bool:
        """Re-read everything for whoever this tab's session is (alerts call it too);
        False when the session no longer names anyone."""
        wanted = self.selected_id
        answer = await self._as_actor(
            lambda db, actor: _read_board(db, actor, wanted), write=False, ref=ref
        )
        board = answer.value
        if board is None or answer.me is None:
            return False
        self.workflows = board.workflows
        self.selected_id, self.selected_name = board.selected_id, board.selected_name
        self.nodes = [node_row(n) for n in board.nodes]
        self.can_edit = answer.me.may_build
        self.can_transfer = answer.me.may_change_workspace_wide
        on_portal = (self.router.url.path or "").startswith("/portal")
        self.runs_page = "" if on_portal else "/runs"
        if board.newest is not None:
            self.last_run, self.last_steps = run_row(board.newest), step_rows(board.newest)
        else:
            self.last_run, self.last_steps = RunRow(), []
        self.loaded = True
        return True

    async def _guarded(self, work: Callable[[Session, Actor], Any], success: str = "") -> Any:
        """One core call from a button; a refusal becomes a toast."""
        answer = await self._as_actor(work)
        if answer.signed_out:
            return self._sign_in_redirect()
        await self._reload()
        if not answer.ok:
            return rx.toast.error(answer.message)
        return rx.toast.success(success) if success else None

    async def _form_call(self, work: Callable[[Session, Actor], Any]) -> tuple[bool, Any]:
        """A dialog's core call: (True, result), or (False, what to return) after putting
        the refusal in the dialog (it stays open) or sending a signed-out tab away."""
        answer = await self._as_actor(work)
        if answer.signed_out:
            return False, self._sign_in_redirect()
        if not answer.ok:
            self.form_error = answer.message
            return False, None
        return True, answer.value

    # --- loading and selection -----------------------------------------------------------

    @rx.event
    async def load(self) -> Any:
        wanted = self.router.url.query_parameters.get("wf")
        if isinstance(wanted, str) and wanted:
            self.selected_id = wanted[:64]
        self.error = ""
        if not await self._reload():
            return self._sign_in_redirect()
        return None

    @rx.event
    async def select(self, workflow_id: Any) -> None:
        if isinstance(workflow_id, str) and 0 < len(workflow_id) <= 64:
            self.selected_id = workflow_id
            await self._reload()

    # --- workflows -----------------------------------------------------------------------

    @rx.event
    def open_create(self) -> None:
        self.form_error, self.create_open = "", True

    @rx.event
    def create_open_changed(self, value: Any) -> None:
        if value is False:
            self.create_open = False

    @rx.event
    async def create(self, form: dict) -> Any:
        name = form.get("name") if isinstance(form, dict) else None
        ok, made = await self._form_call(
            lambda db, actor: workflows.create_workflow(db, actor=actor, name=name)
        )
        if not ok:
            return made
        self.create_open, self.selected_id = False, made.id
        await self._reload()
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
    async def rename(self, form: dict) -> Any:
        name, target = (form.get("name") if isinstance(form, dict) else None), self.selected_id
        ok, outcome = await self._form_call(
            lambda db, actor: workflows.rename_workflow(
                db, actor=actor, workflow_id=target, name=name
            )
        )
        if not ok:
            return outcome
        self.rename_open = False
        await self._reload()
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
    async def confirm_delete(self) -> Any:
        target, name = self.selected_id, self.selected_name
        self.delete_open = False
        return await self._guarded(
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
    async def add_node(self, form: dict) -> Any:
        if not isinstance(form, dict) or not self.add_choice:
            self.form_error = "Choose what the node does."
            return None
        app_key, _, action_key = self.add_choice.partition(":")
        names = {f.name for f in self.add_fields}
        params = {k: v for k, v in form.items() if k in names and v != ""}
        label, target = form.get("cx_node_label") or None, self.selected_id
        ok, made = await self._form_call(
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
        self.added_node_id = made.id  # the node panel opens it next (`open_added`)
        await self._reload()
        return rx.toast.success(f"“{made.label}” added. Pick the connection it uses.")

    @rx.event
    async def move(self, node_id: Any, direction: Any) -> Any:
        return await self._guarded(
            lambda db, actor: workflows.move_node(
                db, actor=actor, node_id=node_id, direction=direction
            )
        )

    @rx.event
    def ask_remove(self, node_id: Any) -> None:
        row = next((n for n in self.nodes if n.id == node_id), None)
        if row is not None:
            self.remove_id, self.remove_label, self.remove_open = row.id, row.label, True

    @rx.event
    def remove_open_changed(self, value: Any) -> None:
        if value is False:
            self.remove_open = False

    @rx.event
    async def confirm_remove(self) -> Any:
        node_id, label = self.remove_id, self.remove_label
        self.remove_open, self.remove_id = False, ""
        return await self._guarded(
            lambda db, actor: workflows.remove_node(db, actor=actor, node_id=node_id),
            f"“{label}” removed.",
        )

    # --- runs ----------------------------------------------------------------------------

    @rx.event(background=True)
    async def run(self, mode: Any = "live") -> Any:
        async with self:
            if self.busy or not self.selected_id:
                return None
            self.busy = "run"
            workflow_id = self.selected_id
            ref = self._session_ref()
        # A run commits step by step (its own sessions), so the helper only names the
        # person here; the run itself goes to a worker thread like every core call.
        me = await self._as_actor(myself, write=False, ref=ref)
        if me.value is None:
            async with self:
                self.busy = ""
                return self._failed(me)
        engine = get_engine()
        try:
            await asyncio.to_thread(
                runs.run_now,
                lambda: Session(engine, expire_on_commit=False),
                actor=me.value,
                workflow_id=workflow_id,
                mode=mode,
            )
            failure = ""
        except DomainError as err:
            failure = str(err)
        async with self:
            self.busy = ""
            await self._reload()
            last = self.last_run
        if failure:
            return rx.toast.error(failure)
        if last.waiting:
            return rx.toast.warning(
                "The run is waiting for a connection to be reconnected; it continues by itself."
            )
        if last.failed:
            return rx.toast.error("The run failed. See the steps below.")
        if last.nothing_ran:
            return rx.toast.warning(last.message or "Nothing ran.")
        return rx.toast.success("Run finished.")

    @rx.event(background=True)
    async def retry(self, run_id: Any) -> Any:
        async with self:
            if self.busy:
                return None
            self.busy = "run"
            ref = self._session_ref()
        answer = await self._as_actor(
            lambda db, actor: runs.retry(db, actor=actor, run_id=run_id), ref=ref
        )
        async with self:
            self.busy = ""
            if answer.signed_out:
                return self._sign_in_redirect()
            await self._reload()
        return None if answer.ok else rx.toast.error(answer.message)

    # --- export and import ----------------------------------------------------------------

    @rx.event
    async def export(self) -> Any:
        target = self.selected_id
        answer = await self._as_actor(
            lambda db, actor: transfer.export_workflow(db, actor=actor, workflow_id=target)
        )
        document = answer.value
        if document is None:
            return self._failed(answer)
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
    async def import_document(self, form: dict) -> Any:
        text = form.get("document") if isinstance(form, dict) else None
        if not isinstance(text, str) or not text.strip():
            self.form_error = "Paste an exported workflow (JSON)."
            return None
        ok, result = await self._form_call(
            lambda db, actor: transfer.import_workflow(db, actor=actor, document=text)
        )
        if not ok:
            return result
        self.form_error = ""
        self.selected_id = result.workflow_id
        self.import_report = [
            ImportLine(node, True, f"→ {conn}") for node, conn in result.bound
        ] + [ImportLine(u[0], False, u[-1]) for u in result.unbound]
        await self._reload()
        return rx.toast.success(
            f"Imported “{result.name}”: {len(result.bound)} node(s) bound, "
            f"{len(result.unbound)} to pick."
        )

    @rx.var
    def action_choices(self) -> list[ActionChoice]:
        return _ACTIONS


@dataclass(frozen=True)
class _Board:
    """What the builder shows, read in one worker-thread call."""

    workflows: list[WorkflowItem]
    selected_id: str
    selected_name: str
    nodes: list[workflows.NodeView]
    newest: runs.RunView | None


def _read_board(db: Session, actor: Actor, wanted: str) -> _Board:
    listed = workflows.list_workflows(db, actor=actor)
    ids = {w.id for w in listed}
    selected = wanted if wanted in ids else (listed[0].id if listed else "")
    nodes, newest = [], None
    if selected:
        nodes = workflows.list_nodes(db, actor=actor, workflow_id=selected)
        newest = runs.latest(db, actor=actor, workflow_id=selected)
    return _Board(
        workflows=[WorkflowItem(w.id, w.name, w.node_count) for w in listed],
        selected_id=selected,
        selected_name=next((w.name for w in listed if w.id == selected), ""),
        nodes=nodes,
        newest=newest,
    )


_ACTIONS = action_choices()
