"""The opener's side of the OAuth popup, and the OAuth-only actions of the details panel.

The popup reports back with `postMessage`; a listener in the page shell then
clicks a hidden button wired to `finished`, which asks the core what the newest
flow of *this session* said (the session reference decides, no argument does).
Refresh now and Revoke take the connection id as hostile input like every other
handler; the core checks visibility and the sharing level.
"""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from connections_app.core import guard
from connections_app.core.db import session_scope
from connections_app.core.errors import DomainError, NotFound, Unauthenticated
from connections_app.core.oauth import flow, tokens
from connections_app.core.tenancy import Actor, Op, check, get_connection
from connections_app.core.vault import get_vault
from connections_app.ui.states.add_connection import AddConnectionState
from connections_app.ui.states.connection_details import DetailsState
from connections_app.ui.states.connections_list import ConnectionListState
from connections_app.ui.states.session import SessionState

_GONE = "That connection no longer exists or is not available to you."


def _valid_id(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


class OAuthConnectState(SessionState):
    revoke_open: bool = False
    revoke_id: str = ""
    revoke_label: str = ""
    busy: bool = False
    # The flow this tab last reported: the popup's message may arrive more than once
    # (several listeners, a re-sent message), but each outcome is toasted once per tab.
    _reported_flow: str = ""

    @rx.event
    async def finished(self) -> Any:
        with session_scope() as db:
            outcome = flow.latest_outcome_for_ref(db, session_ref=self._session_ref())
        if outcome is None or outcome.flow_id == self._reported_flow:
            return None
        self._reported_flow = outcome.flow_id
        if not outcome.ok:
            return rx.toast.error(outcome.message, duration=8000)
        add = await self.get_state(AddConnectionState)
        from_node = add.for_node != ""
        add.open, add.for_node = False, ""
        add.form_key += 1
        if from_node:
            from connections_app.ui.states.node_panel import NodePanelState

            return [NodePanelState.reload, rx.toast.success(outcome.message)]
        return [
            ConnectionListState.refresh,
            DetailsState.reload,
            rx.toast.success(outcome.message),
        ]

    @rx.event(background=True)
    async def refresh_now(self, connection_id: Any) -> Any:
        conn_id = _valid_id(connection_id)
        async with self:
            if self.busy or conn_id is None:
                return None
            try:
                actor = self._actor()
            except Unauthenticated:
                return self._sign_in_redirect()
            self.busy = True
        result = await asyncio.to_thread(_refresh_now, actor, conn_id)
        async with self:
            self.busy = False
        toast = rx.toast.success if result[0] else rx.toast.error
        return [ConnectionListState.refresh, DetailsState.reload, toast(result[1])]

    @rx.event
    def ask_revoke(self, connection_id: Any) -> Any:
        conn_id = _valid_id(connection_id)
        try:
            actor = self._actor()
            if conn_id is None:
                raise NotFound(_GONE)
            with session_scope() as db:
                conn = get_connection(db, actor, conn_id)
                allowed = check(actor, Op.REVOKE, conn)
                label = conn.label
                if not allowed:
                    guard.refuse(db, actor, "", what="revoke", connection=conn)
        except Unauthenticated:
            return self._sign_in_redirect()
        except DomainError as err:
            return rx.toast.error(str(err))
        if not allowed:
            return rx.toast.error("Your role does not allow you to revoke this connection.")
        self.revoke_id, self.revoke_label, self.revoke_open = conn_id, label, True
        return None

    @rx.event
    def revoke_open_changed(self, value: Any) -> None:
        if value is False and not self.busy:
            self.revoke_open = False

    @rx.event(background=True)
    async def confirm_revoke(self) -> Any:
        async with self:
            if self.busy or not self.revoke_id:
                return None
            try:
                actor = self._actor()
            except Unauthenticated:
                return self._sign_in_redirect()
            self.busy = True
            conn_id = self.revoke_id
        ok, message = await asyncio.to_thread(_revoke, actor, conn_id)
        async with self:
            self.busy = False
            self.revoke_open = False
            self.revoke_id = ""
        toast = rx.toast.success if ok else rx.toast.error
        return [ConnectionListState.refresh, DetailsState.reload, toast(message)]


def _refresh_now(actor: Actor, conn_id: str) -> tuple[bool, str]:
    try:
        with session_scope() as db:
            outcome = tokens.refresh_now(db, actor=actor, connection_id=conn_id, vault=get_vault())
    except NotFound:
        return False, _GONE
    except DomainError as err:
        return False, str(err)
    if outcome.result == "refreshed":
        return True, "Token refreshed."
    if outcome.result == "permanent":
        return False, f"{outcome.message} Reconnect to authorize it again."
    if outcome.result == "skipped":
        return False, "A refresh is already running, or the connection needs reconnecting."
    return False, outcome.message or "The refresh did not complete. Try again shortly."


def _revoke(actor: Actor, conn_id: str) -> tuple[bool, str]:
    try:
        with session_scope() as db:
            confirmed = tokens.revoke(db, actor=actor, connection_id=conn_id, vault=get_vault())
    except NotFound:
        return False, _GONE
    except DomainError as err:
        return False, str(err)
    if confirmed:
        return True, "Revoked. The provider confirmed; the tokens are destroyed."
    return True, "Revoked here and the tokens are destroyed (the provider did not confirm)."
