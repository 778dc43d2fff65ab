"""/workspaces (account admins): deleting the whole account (F7, "same for an account").

Thin, like `WorkspacesState`: who may delete, what goes, whether the typed name
matches and the order of shredding are the core's (`identity.account_deletion`). The
account is always the person's own (from the server-side session, never an
argument); the typed name is checked again in the core.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from connections_app.core.identity import account_deletion as deletion
from connections_app.core.vault import get_vault
from connections_app.ui.states.session import SessionState, full_page_load
from connections_app.ui.states.typed_deletion import TypedDeletionMixin


class AccountDeletionState(TypedDeletionMixin, SessionState):
    @rx.event
    async def open_delete(self) -> Any:
        answer = await self._as_actor(
            lambda db, actor: deletion.deletion_summary(db, actor, actor.account_id)
        )
        if not answer.ok or answer.value is None:
            return self._failed(answer)
        self._show_confirmation(answer.value.name, answer.value.lines)
        return None

    @rx.event
    async def confirm_delete(self) -> Any:
        if self.busy or not self.delete_open:
            return
        self.busy = True
        yield
        typed = self.typed
        answer = await self._as_actor(
            lambda db, actor: deletion.delete_account(
                db, actor, actor.account_id, typed, vault=get_vault()
            )
        )
        self.busy = False
        if answer.signed_out:
            yield self._sign_in_redirect()
            return
        if not answer.ok:
            self.form_error = answer.message
            return
        self._close_confirmation()
        # Nothing of the account is left to show: the start page decides where this
        # person goes (another account's workspace, or sign-in when none is left).
        yield full_page_load("/")
