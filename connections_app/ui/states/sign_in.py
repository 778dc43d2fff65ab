"""Messages for the sign-in page; the form itself posts to the HTTP route, not to Reflex."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.states.session import forget_everything

_MESSAGES = {
    "invalid": "Email or password is incorrect.",
    "locked": "Too many failed attempts. Try again in a few minutes.",
}


class SignInState(rx.State):
    error: str = ""
    notice: str = ""
    next_path: str = "/"

    @rx.event
    async def load(self) -> None:
        # Whoever used this tab before (same Reflex client token) leaves nothing behind.
        await forget_everything(self)
        params = self.router.url.query_parameters
        self.error = _MESSAGES.get(params.get("error", ""), "")
        self.notice = "You have been signed out." if params.get("signed_out") else ""
        candidate = params.get("next", "/")
        ok = candidate.startswith("/") and not candidate.startswith("//") and len(candidate) < 300
        self.next_path = candidate if ok else "/"
