"""Before any event is handled, a tab's state must belong to the person whose session
the socket carries.

Reflex keys state by the client token, which the browser picks and keeps in
sessionStorage; the token outlives the session it was used with. Whoever opens a
socket with a known token — after a sign-out, without a cookie, or with another
person's cookie — would otherwise receive the previous person's read-models in
the hydrate snapshot. This middleware runs first for every event (the hydrate
included), looks the socket's session reference up, and when it does not belong
to the person the page states were built for, resets every page state (and the
session state) and unlinks the workspace signal before the handler runs or
anything is sent.
"""

from typing import Any

import reflex as rx

from connections_app.core.db import session_scope
from connections_app.core.identity import service as identity
from connections_app.ui.states.session import SessionState, forget_everything


class SessionGuard(rx.Middleware):
    async def preprocess(self, app: Any, state: Any, event: Any) -> None:
        session = await state.get_state(SessionState)
        ref = session._session_ref()
        with session_scope() as db:
            current = (identity.session_user_for_ref(db, ref) if ref else None) or ""
        if session.owner_id == current:
            return None
        await forget_everything(state)
        session.owner_id = current  # the (now empty) page states are this person's
        await session._link_workspace_signal(None)
        return None
