"""The account's screens (F9, F25, F26): account connections with their grants, and the
LLM Keys page (the same, limited to model-provider apps, with spend bars).

Thin: every rule (who may grant, which workspaces are the account's, what a cap may
be) is the core's. Handler arguments are hostile input; ids go to the core, which
answers not-found for anything not the account admin's own.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from connections_app.core.connections import grants
from connections_app.core.connections import service as connections
from connections_app.core.connections.views import Page
from connections_app.core.tenancy.actor import Actor
from connections_app.ui.states.connections_list import ConnectionListState
from connections_app.ui.states.core_call import Answer
from connections_app.ui.states.paging import PAGE_SIZE
from connections_app.ui.states.rows import (
    AccountCard,
    Choice,
    connection_row,
    grant_row,
)


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def _read(
    db: Session, actor: Actor, query: dict[str, Any]
) -> tuple[Page, dict[str, list[grants.GrantView]]]:
    page = connections.list_connections(db, actor=actor, account_scope=True, **query)
    found = grants.grants_by_connection(db, actor=actor, connection_ids=[v.id for v in page.items])
    return page, found


class AccountConnectionsState(ConnectionListState):
    """/account/connections: every account connection, each with its grants."""

    cards: list[AccountCard] = []
    allowed: bool = False  # the core's answer: is this person an account admin?
    # The grant dialog (add a workspace) and the cap dialog (set, change, clear).
    grant_open: bool = False
    grant_connection: str = ""
    grant_label: str = ""
    grant_choices: list[Choice] = []
    cap_open: bool = False
    cap_grant: str = ""
    cap_workspace: str = ""
    cap_value: str = ""
    form_error: str = ""
    form_key: int = 0
    remove_open: bool = False
    remove_grant: str = ""
    remove_workspace: str = ""
    remove_label: str = ""

    def _account_scope(self) -> bool:
        return True

    def _models_only(self) -> bool:
        return False

    async def _reload(self) -> Any:
        query = {**self._page_query(), "model_providers": self._models_only()}
        answer = await self._as_actor(lambda db, actor: _read(db, actor, query), write=False)
        if answer.signed_out:
            return self._sign_in_redirect()
        me = answer.me
        self.allowed = me is not None and me.may_add_account_connection
        if answer.value is None or not self.allowed:
            self.error = answer.message if self.allowed else ""
            self.rows, self.cards, self.total = [], [], 0
            self.list_loaded, self.list_kind = True, type(self).__name__
            return None
        page, found = answer.value
        if page.items == [] and page.total and self.page > 1:
            self.page = max(1, -(-page.total // PAGE_SIZE))
            return await self._reload()
        self.error = ""
        self.rows = [connection_row(v) for v in page.items]
        self.cards = [
            AccountCard(connection_row(v), [grant_row(g) for g in found.get(v.id, [])])
            for v in page.items
        ]
        self.total = page.total
        self.can_add = self.allowed
        self.list_loaded, self.list_kind = True, type(self).__name__
        return None

    async def _on_workspace_change(self) -> None:
        if self.list_loaded and self.list_kind == type(self).__name__:
            await self._reload()
        if self.grant_open and self.grant_connection:
            await self._load_choices(self.grant_connection)

    @rx.event
    async def load(self) -> Any:
        self.page = 1
        self.grant_open = self.cap_open = self.remove_open = False
        return await self._reload()

    def _form_failed(self, answer: Answer[Any]) -> Any:
        """The dialog stays open and says why (or the person signs in again)."""
        if answer.signed_out:
            return self._sign_in_redirect()
        self.form_error = answer.message
        return None

    @rx.event
    def dialog_changed(self, which: Any, value: Any) -> None:
        """Radix calls this on Escape / outside click of the grant, cap and remove
        dialogs; only closing is honoured."""
        if value is False and which in ("grant", "cap", "remove"):
            setattr(self, f"{which}_open", False)

    # --- grant a workspace ----------------------------------------------------------

    async def _load_choices(self, connection_id: str) -> bool:
        answer = await self._as_actor(
            lambda db, actor: (
                connections.get(db, actor=actor, connection_id=connection_id, account_screen=True),
                grants.grantable_workspaces(db, actor=actor, connection_id=connection_id),
            ),
            write=False,
        )
        if answer.value is None:
            self.grant_open = False
            self.error = answer.message
            return False
        view, options = answer.value
        self.grant_connection, self.grant_label = view.id, view.label
        self.grant_choices = [Choice(o.id, o.name) for o in options]
        return True

    @rx.event
    async def open_grant(self, connection_id: Any) -> Any:
        conn_id = _id(connection_id)
        if conn_id is None:
            return None
        self.form_error = ""
        if not await self._load_choices(conn_id):
            return rx.toast.error(self.error or "That connection no longer exists.")
        self.form_key += 1
        self.grant_open = True
        return None

    @rx.event
    async def submit_grant(self, form: Any) -> Any:
        if not isinstance(form, dict) or not self.grant_connection:
            return None
        conn_id, workspace, cap = self.grant_connection, form.get("workspace"), form.get("cap")
        if not workspace:
            self.form_error = "Choose a workspace."
            return None
        answer = await self._as_actor(
            lambda db, actor: grants.grant(
                db, actor=actor, connection_id=conn_id, workspace_id=workspace, cap=cap
            )
        )
        if answer.value is None:
            return self._form_failed(answer)
        self.grant_open, self.form_error = False, ""
        await self._reload()
        granted = answer.value
        return rx.toast.success(
            f"Granted “{self.grant_label}” to {granted.workspace_name} ({granted.cap_label})."
        )

    # --- the cap ------------------------------------------------------------------------

    @rx.event
    def open_cap(self, grant_id: Any) -> None:
        gid = _id(grant_id)
        card_grant = next(
            (g for card in self.cards for g in card.grants if g.id == gid), None
        )  # only a grant this screen shows; the core checks it again
        if card_grant is None:
            return
        self.cap_grant, self.cap_workspace = card_grant.id, card_grant.workspace
        self.cap_value, self.form_error = card_grant.cap_input, ""
        self.form_key += 1
        self.cap_open = True

    @rx.event
    async def submit_cap(self, form: Any) -> Any:
        if not isinstance(form, dict):
            return None
        return await self._set_cap(form.get("cap"))

    @rx.event
    async def clear_cap(self) -> Any:
        return await self._set_cap("")

    async def _set_cap(self, cap: Any) -> Any:
        if not self.cap_grant:
            return None
        grant_id = self.cap_grant
        answer = await self._as_actor(
            lambda db, actor: grants.set_cap(db, actor=actor, grant_id=grant_id, cap=cap)
        )
        if answer.value is None:
            return self._form_failed(answer)
        self.cap_open, self.form_error = False, ""
        await self._reload()
        view = answer.value
        return rx.toast.success(f"Spend cap for {view.workspace_name}: {view.cap_label}.")

    # --- remove a grant -------------------------------------------------------------------

    @rx.event
    def ask_remove(self, grant_id: Any) -> None:
        gid = _id(grant_id)
        for card in self.cards:
            for g in card.grants:
                if g.id == gid:
                    self.remove_grant, self.remove_workspace = g.id, g.workspace
                    self.remove_label = card.connection.label
                    self.form_error = ""
                    self.remove_open = True
                    return

    @rx.event
    async def confirm_remove(self) -> Any:
        if not self.remove_grant:
            return None
        grant_id = self.remove_grant
        answer = await self._as_actor(
            lambda db, actor: grants.remove_grant(db, actor=actor, grant_id=grant_id)
        )
        if answer.value is None:
            return self._form_failed(answer)
        self.remove_open, self.remove_grant = False, ""
        await self._reload()
        return rx.toast.success(f"“{self.remove_label}” is no longer granted to {answer.value}.")


class LlmKeysState(AccountConnectionsState):
    """/llm-keys: the account's model-provider keys, each with spend against its caps."""

    def _models_only(self) -> bool:
        return True
