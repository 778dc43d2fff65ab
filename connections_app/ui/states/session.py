"""The one base state: who is signed in, re-derived from the session on every event.

Only non-secret read-models live here. Reflex keeps the websocket handshake
headers in its state store and logs them in some error paths, so the session
cookie never reaches it: the app's edge guard (`http/security.py`) replaces it
on the websocket with a *reference* (`<cookie>_ref=SHA-256(token)`), which no
HTTP route accepts and which a client cannot send itself. Every handler
re-derives the actor from that reference (`router.headers.cookie`) and never
copies it into a field. Handler arguments are hostile input.
"""

from __future__ import annotations

import asyncio
import json
import logging
from http.cookies import CookieError, SimpleCookie
from typing import Any, TypeVar
from urllib.parse import quote

import reflex as rx
from reflex.utils.exceptions import ReflexRuntimeError

from connections_app.core.db import read_scope, session_scope
from connections_app.core.errors import NotFound, Unauthenticated
from connections_app.core.identity import service as identity
from connections_app.core.settings import get_settings
from connections_app.core.tenancy.actor import Actor
from connections_app.ui.states.core_call import Answer, Work, call_as
from connections_app.ui.states.rows import Choice
from connections_app.ui.states.workspace_signal import (
    AccountSignal,
    WorkspaceSignal,
    account_signal_token,
    signal_token,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


def full_page_load(path: str) -> Any:
    """Navigate with a real page load, so every page state starts over.

    (`rx.redirect(..., is_external=True)` would open a new tab instead.)
    """
    return rx.call_script(f"window.location.assign({json.dumps(path)})")


class SessionState(rx.State):
    user_name: str = ""
    user_email: str = ""
    workspace_id: str = ""
    workspace_name: str = ""
    account_name: str = ""
    role: str = ""
    is_account_admin: bool = False
    # The core's answers about this person (identity.SessionView), never re-derived here.
    role_label: str = ""
    is_workspace_admin: bool = False
    may_build: bool = False
    may_add_connection: bool = False
    workspaces: list[Choice] = []
    session_loaded: bool = False
    # The core said this tab's workspace was deleted: the shell says so and leaves it.
    workspace_gone: bool = False
    # Whose read-models this browser tab holds. When another person signs in in the
    # same tab (same Reflex client token), every page state is wiped before use.
    owner_id: str = ""

    # --- server-side only helpers (underscore: not callable as events) -------------

    def _session_ref(self) -> str | None:
        """This socket's session reference, as the edge guard set it at the handshake."""
        header = self.router.headers.cookie
        if not header:
            return None
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            return None
        morsel = jar.get(identity.ref_cookie_name(get_settings().session_cookie_name))
        return morsel.value if morsel else None

    async def _as_actor(
        self, work: Work[T], *, write: bool = True, ref: str | None = None
    ) -> Answer[T]:
        """Run one core call as the signed-in person, in a worker thread (`core_call`).

        Background handlers pass the `ref` they read under `async with self`."""
        ref = ref if ref is not None else self._session_ref()
        return await asyncio.to_thread(call_as, ref, work, write=write)

    def _failed(self, answer: Answer[Any]) -> Any:
        """The event that tells the person why a core call did not happen."""
        if answer.signed_out:
            return self._sign_in_redirect()
        return rx.toast.error(answer.message)

    def _clear(self) -> None:
        self.user_name = self.user_email = self.workspace_id = ""
        self.workspace_name = self.account_name = self.role = ""
        self.is_account_admin = self.is_workspace_admin = False
        self.may_build = self.may_add_connection = False
        self.role_label = ""
        self.workspaces = []
        self.session_loaded = False

    async def _refresh(self) -> Actor | None:
        """Re-read who this tab's session names (raises Unauthenticated): in a worker
        thread and a read-only transaction, like every core call."""
        view = await asyncio.to_thread(_session_view, self._session_ref())
        self.owner_id = view.user_id
        self.user_name, self.user_email = view.name, view.email
        self.workspaces = [Choice(c.workspace_id, c.name, c.role_label) for c in view.workspaces]
        actor = view.actor
        if actor is None:
            self.workspace_id = self.workspace_name = self.account_name = self.role = ""
            self.is_account_admin = False
        else:
            current = next(c for c in view.workspaces if c.workspace_id == actor.workspace_id)
            self.workspace_id = current.workspace_id
            self.workspace_name = current.name
            self.account_name = current.account_name
            self.role = str(actor.role)
            self.is_account_admin = actor.is_account_admin
        self.role_label = view.role_label
        self.is_workspace_admin = view.is_workspace_admin
        self.may_build, self.may_add_connection = view.may_build, view.may_add_connection
        self.session_loaded = True
        self.workspace_gone = False
        return actor

    def _sign_in_redirect(self) -> Any:
        self._clear()
        path = self.router.url.path or "/"
        return rx.redirect(f"/sign-in?next={quote(path, safe='/')}", replace=True)

    def _on_workspace_change(self) -> Any:
        """Re-read what this page state shows after a change anywhere in the workspace.

        May be a coroutine (the alert bridge awaits it): page states read through
        `_as_actor`, in a worker thread.

        The alert bridge calls it, for every tab linked to the workspace, on each
        page state that overrides it (with that tab's own session): page states that
        show workspace data override it; nothing else needs to know they exist.
        """

    async def _leave_deleted_workspace(self) -> None:
        """The alert bridge's answer to "this tab's workspace was deleted": drop every
        read-model of it at once (its connections vanish from the screen), and let the
        shell send the person to a workspace they still have, or to sign-in."""
        await self._forget_page_states()
        self.workspace_gone = True

    # --- events ---------------------------------------------------------------------

    @rx.event
    def leave_workspace(self) -> Any:
        """From the "workspace deleted" notice: `/` sends the person on (another
        workspace, or sign-in when none is left)."""
        return full_page_load("/")

    async def _forget_page_states(self) -> None:
        """Reset every page state: they may hold another person's read-models."""
        for cls in page_state_classes():
            state = await self.get_state(cls)
            state.reset()

    @rx.event
    async def load_session(self) -> Any:
        """on_load guard of every signed-in page (UX only: services check again)."""
        previous = self.owner_id
        try:
            actor = await self._refresh()
        except Unauthenticated:
            await self._forget_page_states()
            return self._sign_in_redirect()
        if previous != self.owner_id:
            await self._forget_page_states()
        await self._link_workspace_signal(actor)
        path = self.router.url.path or "/"
        elsewhere = identity.page_for(actor, path)
        return rx.redirect(elsewhere) if elsewhere is not None else None

    async def _link_workspace_signal(self, actor: Actor | None) -> None:
        """Hear this workspace's alerts; only after the session proved membership."""
        wanted = signal_token(actor.workspace_id) if actor and actor.workspace_id else ""
        await self._link(WorkspaceSignal, wanted)
        # Account admins also hear their account's own changes (the account screens).
        admin = actor is not None and actor.is_account_admin
        await self._link(AccountSignal, account_signal_token(actor.account_id) if admin else "")

    async def _link(self, cls: type[rx.SharedState], wanted: str) -> None:
        signal = await self.get_state(cls)
        if signal._linked_to == wanted:
            return
        try:
            if wanted:
                await signal._link_to(wanted)
            elif signal._linked_to:
                await signal._unlink()
        except ReflexRuntimeError:
            # Only possible outside Reflex's event processing (handlers called
            # directly in tests): there is no state manager to link through.
            # The e2e banner test proves linking in the real app.
            log.debug("workspace signal not linked: no event context")

    @rx.event
    async def load_session_home(self) -> Any:
        """`/`: send each person to their home page."""
        previous = self.owner_id
        try:
            actor = await self._refresh()
        except Unauthenticated:
            await self._forget_page_states()
            return self._sign_in_redirect()
        if previous != self.owner_id:
            await self._forget_page_states()
        return rx.redirect(identity.start_page(actor))

    @rx.event
    async def switch_workspace(self, workspace_id: Any) -> Any:
        if not isinstance(workspace_id, str) or not workspace_id:
            return rx.toast.error("Choose a workspace.")
        try:
            await asyncio.to_thread(_switch_workspace, self._session_ref(), workspace_id)
        except Unauthenticated:
            return self._sign_in_redirect()
        except NotFound:
            return rx.toast.error("That workspace is not available to you.")
        # A full load: every page state re-reads its data for the new workspace.
        return full_page_load(self.router.url.path or "/")

    @rx.var
    def initials(self) -> str:
        parts = [p for p in self.user_name.split() if p]
        return "".join(p[0] for p in parts[:2]).upper() or "?"


def _session_view(ref: str | None) -> identity.SessionView:
    with read_scope() as db:
        return identity.session_view_for_ref(db, ref)


def _switch_workspace(ref: str | None, workspace_id: str) -> None:
    with session_scope() as db:
        identity.switch_workspace_for_ref(db, ref=ref, workspace_id=workspace_id)


def page_state_classes() -> list[type[SessionState]]:
    """Every state that derives from SessionState (the page read-models)."""
    found: list[type[SessionState]] = []
    pending = list(SessionState.get_substates())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.get_substates())
    return found


async def forget_everything(state: rx.State) -> None:
    """Used where a session ends or starts: no read-model survives into the next one."""
    session = await state.get_state(SessionState)
    session.reset()
    for cls in page_state_classes():
        (await state.get_state(cls)).reset()
