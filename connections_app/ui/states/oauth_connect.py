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

from connections_app.core.connections import tokens
from connections_app.core.db import session_scope
from connections_app.core.oauth import flow
from connections_app.core.vault import get_vault
from connections_app.ui.states.add_connection import AddConnectionState
from connections_app.ui.states.connection_details import GONE, _fetch_for
from connections_app.ui.states.core_call import Answer
from connections_app.ui.states.session import SessionState


def _valid_id(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


class OAuthConnectState(SessionState):
    revoke_open: bool = False
    revoke_id: str = ""
    revoke_label: str = ""
    revoke_text: str = ""
    busy: bool = False
    # The flow this tab last reported: the popup's message may arrive more than once
    # (several listeners, a re-sent message), but each outcome is toasted once per tab.
    _reported_flow: str = ""

    @rx.event
    async def finished(self) -> Any:
        outcome = await asyncio.to_thread(_latest_outcome, self._session_ref())
        if outcome is None or outcome.flow_id == self._reported_flow:
            return None
        self._reported_flow = outcome.flow_id
        if not outcome.ok:
            return rx.toast.error(outcome.message, duration=8000)
        add = await self.get_state(AddConnectionState)
        add.open, add.for_node = False, ""
        add.form_key += 1
        # The list, the details panel and the node follow through the workspace hook.
        return rx.toast.success(outcome.message)

    @rx.event(background=True)
    async def refresh_now(self, connection_id: Any) -> Any:
        """The core checks and audits the person (`tokens.refresh_now`); nothing here
        decides whether they may."""
        conn_id = _valid_id(connection_id)
        async with self:
            if self.busy or conn_id is None:
                return None
            self.busy = True
            ref = self._session_ref()
        answer = await self._as_actor(
            lambda db, actor: tokens.refresh_now(
                db, actor=actor, connection_id=conn_id, vault=get_vault()
            ),
            ref=ref,
        )
        async with self:
            self.busy = False
            if answer.signed_out:
                return self._sign_in_redirect()
        ok, message = _refresh_message(answer)
        return rx.toast.success(message) if ok else rx.toast.error(message)

    @rx.event
    async def ask_revoke(self, connection_id: Any) -> Any:
        view, refusal = await _fetch_for(
            self, connection_id, "revoke", "Your role does not allow you to revoke this connection."
        )
        if view is None:
            return refusal
        self.revoke_id, self.revoke_label, self.revoke_open = view.id, view.label, True
        self.revoke_text = tokens.revoke_consequence(view.kind, view.app_name)
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
            self.busy = True
            conn_id = self.revoke_id
            ref = self._session_ref()
        answer = await self._as_actor(
            lambda db, actor: tokens.revoke(
                db, actor=actor, connection_id=conn_id, vault=get_vault()
            ),
            ref=ref,
        )
        async with self:
            self.busy = False
            self.revoke_open = False
            self.revoke_id = ""
            if answer.signed_out:
                return self._sign_in_redirect()
        if not answer.ok:
            return rx.toast.error(GONE if answer.gone else answer.message)
        return rx.toast.success(answer.value.message if answer.value else "Revoked.")


def _latest_outcome(ref: str | None) -> flow.FlowOutcome | None:
    with session_scope() as db:
        return flow.latest_outcome_for_ref(db, session_ref=ref)


def _refresh_message(answer: Answer[tokens.RefreshOutcome]) -> tuple[bool, str]:
    outcome = answer.value
    if outcome is None:
        return False, GONE if answer.gone else answer.message
    if outcome.result == "refreshed":
        return True, "Token refreshed."
    if outcome.result == "permanent":
        return False, f"{outcome.message} Reconnect to authorize it again."
    if outcome.result == "skipped":
        return False, "A refresh is already running, or the connection needs reconnecting."
    return False, outcome.message or "The refresh did not complete. Try again shortly."
