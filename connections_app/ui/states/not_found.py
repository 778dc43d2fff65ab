"""The 404 page: where "back" leads depends on who is here (nobody is sent away)."""

from __future__ import annotations

import asyncio

import reflex as rx

from connections_app.core.db import read_scope
from connections_app.core.identity import service as identity
from connections_app.ui.states.session import SessionState


def _start_page(ref: str | None) -> str | None:
    with read_scope() as db:
        return identity.start_page_for_ref(db, ref)


_BACK_LABELS = {
    identity.PORTAL_PAGE: "Back to My connections",
    identity.INTEGRATIONS_PAGE: "Back to Integrations",
}


class NotFoundState(rx.State):
    back_href: str = "/sign-in"
    back_label: str = "Sign in"

    @rx.event
    async def load(self) -> None:
        """Signed out: back to sign-in. Signed in: the person's start page, as the core
        says (read in a worker thread, like every core call)."""
        session = await self.get_state(SessionState)
        home = await asyncio.to_thread(_start_page, session._session_ref())
        if home is None:
            self.back_href, self.back_label = "/sign-in", "Sign in"
        else:
            self.back_href, self.back_label = home, _BACK_LABELS.get(home, "Back")
