"""Messages for the sign-in page; the form itself posts to the HTTP route, not to Reflex."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import reflex as rx

from connections_app.core.db import read_scope
from connections_app.core.identity import service as identity
from connections_app.core.identity.throttle import retry_message
from connections_app.ui.states.session import SessionState, forget_everything


def _start_page(ref: str | None) -> str | None:
    with read_scope() as db:
        return identity.start_page_for_ref(db, ref)


_MESSAGES = {
    "invalid": "Email or password is incorrect.",
    "form": "The sign-in form could not be read. Please try again.",
}
MAX_SHOWN_WAIT = 3600


def _error_message(params: Mapping[str, str]) -> str:
    """The message for `?error=…`; the throttle's wait comes back as `wait` seconds.

    Query parameters are whatever the address bar says: an unknown code shows
    nothing and a wait that is not a small positive number shows no number.
    """
    code = params.get("error", "")
    if code == "throttled":
        raw = params.get("wait", "")
        seconds = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 5 else None
        if seconds is not None and not 1 <= seconds <= MAX_SHOWN_WAIT:
            seconds = None
        return retry_message(seconds)
    return _MESSAGES.get(code, "")


class SignInState(rx.State):
    error: str = ""
    notice: str = ""
    next_path: str = "/"

    @rx.event
    async def load(self) -> Any:
        # A signed-in person has nothing to do here: `/` sends them to their start page.
        session = await self.get_state(SessionState)
        home = await asyncio.to_thread(_start_page, session._session_ref())
        if home is not None:
            return rx.redirect(home, replace=True)
        # Whoever used this tab before (same Reflex client token) leaves nothing behind.
        await forget_everything(self)
        params = self.router.url.query_parameters
        self.error = _error_message(params)
        self.notice = "You have been signed out." if params.get("signed_out") else ""
        candidate = params.get("next", "/")
        ok = candidate.startswith("/") and not candidate.startswith("//") and len(candidate) < 300
        self.next_path = candidate if ok else "/"
        return None
