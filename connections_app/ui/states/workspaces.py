"""/workspaces (account admins): the account's workspaces, and deleting one (F7).

Thin: who may delete, which workspace is the account's, what goes, whether the typed
name matches and the order of shredding are the core's (`identity.workspace_deletion`).
Handler arguments are hostile input: a workspace id goes to the core, which answers
not-found for anything not this account's; the typed name is checked there again.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from connections_app.core.identity import workspace_deletion as deletion
from connections_app.core.vault import get_vault
from connections_app.ui.states.rows import Choice
from connections_app.ui.states.session import SessionState, full_page_load
from connections_app.ui.states.typed_deletion import TypedDeletionMixin


class WorkspacesState(TypedDeletionMixin, SessionState):
    rows: list[Choice] = []  # value: id, label: name, note: "last" when not deletable
    allowed: bool = False  # the core's answer: is this person an account admin?
    delete_id: str = ""

    async def _reload(self) -> Any:
        answer = await self._as_actor(lambda db, actor: deletion.account_workspaces(db, actor))
        if not answer.ok:
            return self._failed(answer)
        self.allowed = bool(answer.me and answer.me.actor and answer.me.actor.is_account_admin)
        self.rows = [
            Choice(w.workspace_id, w.name, "" if w.deletable else "last")
            for w in answer.value or []
        ]
        return None

    async def _on_workspace_change(self) -> None:
        if self.allowed:
            await self._reload()

    @rx.event
    async def load(self) -> Any:
        return await self._reload()

    @rx.event
    async def open_delete(self, workspace_id: Any) -> Any:
        answer = await self._as_actor(
            lambda db, actor: deletion.deletion_summary(db, actor, workspace_id)
        )
        if not answer.ok or answer.value is None:
            return self._failed(answer)
        self.delete_id = answer.value.workspace_id
        self._show_confirmation(answer.value.name, answer.value.lines)
        return None

    @rx.event
    async def confirm_delete(self) -> Any:
        if self.busy or not self.delete_id:
            return
        self.busy = True
        yield
        target, typed, was_current = self.delete_id, self.typed, self.delete_id == self.workspace_id
        answer = await self._as_actor(
            lambda db, actor: deletion.delete_workspace(db, actor, target, typed, get_vault())
        )
        self.busy = False
        if answer.signed_out:
            yield self._sign_in_redirect()
            return
        if not answer.ok:
            self.form_error = answer.message
            return
        name = self._close_confirmation()
        self.delete_id = ""
        if was_current:  # this tab stood in it: go on to a workspace still there
            yield full_page_load("/")
            return
        await self._reload()
        yield rx.toast.success(f"Workspace “{name}” deleted; its keys were destroyed first.")
