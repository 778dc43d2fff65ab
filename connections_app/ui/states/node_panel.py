"""A node's panel in the builder: its parameters and its authentication section (F15–F17).

The picker asks the core for one page at a time, filtered in the database to the
node's app, this workspace, the sharing rules and the node's auth method. The
browser only ever names ids; the core decides whether the node may use them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import reflex as rx
from sqlmodel import Session

from connections_app.core.connections.views import Page
from connections_app.core.tenancy.actor import Actor
from connections_app.core.workflows import service as workflows
from connections_app.ui.states.builder import BuilderState
from connections_app.ui.states.rows import FieldRow, PickerOption, param_rows, picker_options
from connections_app.ui.states.session import SessionState


@dataclass(frozen=True)
class _Node:
    node: workflows.NodeView
    page: Page


def _read_node(db: Session, actor: Actor, node_id: str, search: str, page: int) -> _Node:
    node = workflows.get_node(db, actor=actor, node_id=node_id)
    found = workflows.picker(db, actor=actor, node_id=node.id, search=search or None, page=page)
    return _Node(node, found)


class NodePanelState(SessionState):
    open: bool = False
    node_id: str = ""
    label: str = ""
    app: str = ""
    app_name: str = ""
    action_name: str = ""
    params: list[FieldRow] = []
    form_key: int = 0
    connection_id: str = ""
    connection_label: str = ""
    conn_state: str = ""  # none | missing | active | error | revoked | pending
    can_edit: bool = False
    can_connect: bool = False
    can_switch_all: bool = False
    conn_notice: str = ""  # the core's words for a connection this node may no longer use
    search: str = ""
    page: int = 1
    total: int = 0
    pages: int = 1
    has_next: bool = False
    total_label: str = ""
    options: list[PickerOption] = []
    error: str = ""
    switch_open: bool = False
    switch_search: str = ""
    switch_options: list[PickerOption] = []

    async def _on_workspace_change(self) -> None:
        if self.open and self.node_id:  # the node's connection and the picker, live
            await self._load_node()

    async def _load_node(self) -> bool:
        node_id, search, page = self.node_id, self.search, self.page
        answer = await self._as_actor(
            lambda db, actor: _read_node(db, actor, node_id, search, page), write=False
        )
        if answer.value is None or answer.me is None:
            self.open, self.node_id = False, ""
            return False
        node, found, me = answer.value.node, answer.value.page, answer.me
        self.label, self.app, self.app_name = node.label, node.app, node.app_name
        self.action_name = node.action_name
        self.params = param_rows(node.app, node.action, node.params)
        self.connection_id = node.connection_id or ""
        self.connection_label = node.connection_label or ""
        if node.connection_id is None:
            self.conn_state = "none"
        elif node.connection_ungranted:
            self.conn_state = "ungranted"
        elif node.connection_unavailable:
            self.conn_state = "unavailable"
        else:
            self.conn_state = node.connection_status or "missing"
        self.conn_notice = node.connection_unavailable
        self.can_edit, self.can_connect = me.may_build, me.may_add_connection
        self.can_switch_all = me.may_change_workspace_wide
        self.total, self.pages, self.has_next = found.total, found.pages, found.has_next
        self.total_label = f"{found.total:,}+" if found.more else f"{found.total:,}"
        self.options = picker_options(found.items, self.connection_id)
        return True

    @rx.event
    async def open_panel(self, node_id: Any) -> Any:
        if not isinstance(node_id, str) or not 0 < len(node_id) <= 64:
            return None
        self.node_id, self.search, self.page, self.error = node_id, "", 1, ""
        self.form_key += 1
        if not await self._load_node():
            return rx.toast.error("That node no longer exists.")
        self.open = True
        return None

    @rx.event
    def open_changed(self, value: Any) -> None:
        if value is False:
            self.open, self.switch_open = False, False

    @rx.event
    async def open_added(self, _form: Any = None) -> Any:
        """Chained after the Add node dialog's submit: open the node it just added.

        (The builder names the node; this state follows it, so the builder never
        needs to know the panel exists.)"""
        builder = await self.get_state(BuilderState)
        node_id, builder.added_node_id = builder.added_node_id, ""
        return await self.open_panel(node_id) if node_id else None

    @rx.event
    async def search_changed(self, value: Any) -> None:
        if isinstance(value, str):
            self.search, self.page = value[:100], 1
            await self._load_node()

    @rx.event
    async def next_page(self) -> None:
        if self.has_next:
            self.page += 1
            await self._load_node()

    @rx.event
    async def previous_page(self) -> None:
        if self.page > 1:
            self.page -= 1
            await self._load_node()

    async def _change(self, work: Any, success: str | Callable[[Any], str]) -> Any:
        answer = await self._as_actor(work)
        if answer.signed_out:
            return self._sign_in_redirect()
        self.error = answer.message
        await self._load_node()
        if not answer.ok:
            return rx.toast.error(answer.message)
        message = success(answer.value) if callable(success) else success
        return rx.toast.success(message)  # the builder's node list follows the hook

    @rx.event
    async def pick(self, connection_id: Any) -> Any:
        if not isinstance(connection_id, str) or not connection_id:
            return rx.toast.error("Choose a connection from the list.")  # clearing is its own
        node_id = self.node_id
        return await self._change(
            lambda db, actor: workflows.set_node_connection(
                db, actor=actor, node_id=node_id, connection_id=connection_id
            ),
            "Connection selected.",
        )

    @rx.event
    async def clear_connection(self) -> Any:
        node_id = self.node_id
        return await self._change(
            lambda db, actor: workflows.set_node_connection(
                db, actor=actor, node_id=node_id, connection_id=None
            ),
            "Connection removed from this node.",
        )

    @rx.event
    async def save_params(self, form: dict) -> Any:
        if not isinstance(form, dict):
            return None
        names = {p.name for p in self.params}
        values = {k: v for k, v in form.items() if k in names and v != ""}
        node_id = self.node_id
        return await self._change(
            lambda db, actor: workflows.update_node_params(
                db, actor=actor, node_id=node_id, params=values
            ),
            "Node saved.",
        )

    # --- switch every node of this workspace from X to Y (F17) --------------------------

    async def _load_switch(self) -> None:
        node_id, search = self.node_id, self.switch_search
        answer = await self._as_actor(
            lambda db, actor: workflows.picker(
                db, actor=actor, node_id=node_id, search=search or None
            ),
            write=False,
        )
        items = answer.value.items if answer.value is not None else []
        self.switch_options = [
            o for o in picker_options(items, self.connection_id) if not o.selected
        ]

    @rx.event
    async def open_switch(self) -> None:
        if self.can_switch_all and self.connection_id and self.conn_state != "missing":
            self.switch_search = ""
            await self._load_switch()
            self.switch_open = True

    @rx.event
    def switch_open_changed(self, value: Any) -> None:
        if value is False:
            self.switch_open = False

    @rx.event
    async def switch_search_changed(self, value: Any) -> None:
        if isinstance(value, str):
            self.switch_search = value[:100]
            await self._load_switch()

    @rx.event
    async def switch_all(self, to_connection_id: Any) -> Any:
        source, label = self.connection_id, self.connection_label
        self.switch_open = False
        return await self._change(
            lambda db, actor: workflows.replace_connection(
                db, actor=actor, from_connection_id=source, to_connection_id=to_connection_id
            ),
            lambda n: f"Switched {n} node(s) in this workspace away from “{label}”.",
        )
