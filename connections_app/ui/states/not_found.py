"""The 404 page: where "back" leads depends on who is here (nobody is sent away)."""

from __future__ import annotations

import reflex as rx

from connections_app.core.db import read_scope
from connections_app.core.identity import service as identity
from connections_app.ui.states.session import PORTAL_PATH, SessionState


class NotFoundState(rx.State):
    back_href: str = "/sign-in"
    back_label: str = "Sign in"

    @rx.event
    async def load(self) -> None:
        """Signed out: back to sign-in. Signed in: the person's start page (a client's
        portal, everyone else's Integrations), as the session says."""
        session = await self.get_state(SessionState)
        ref = session._session_ref()
        with read_scope() as db:
            signed_in = identity.session_user_for_ref(db, ref) is not None
            actor = identity.session_view_for_ref(db, ref).actor if signed_in else None
        if not signed_in:
            self.back_href, self.back_label = "/sign-in", "Sign in"
        elif actor is not None and actor.is_client:
            self.back_href, self.back_label = PORTAL_PATH, "Back to My connections"
        else:
            self.back_href, self.back_label = "/integrations", "Back to Integrations"
