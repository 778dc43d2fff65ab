"""`GET /sign-in` and `GET /` answer 303 before any page loads: with a live session to
the person's start page (a client's portal, everyone else's Integrations), and `/`
without one to the sign-in page.

Both pages' own on_load handlers do the same over the websocket, but a reply to a
tab's first event can be lost when the same tab navigated a moment before (a
Reflex race on one client token), and then the form stays on screen; an HTTP
redirect does not depend on the socket. The session is checked in a worker thread
(a database read), never on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from connections_app.core.db import read_scope
from connections_app.core.identity import service as identity
from connections_app.http.security import ASGIApp, Receive, Scope, Send, cookie_value

SIGN_IN = "/sign-in"
HOME = ""  # `/` once its trailing slash is stripped


def start_page(token: str) -> str | None:
    """Where this raw session token's person starts; None when it is no live session.

    Straight there, not via `/`: that page redirects over the websocket, which the
    race above can lose too."""
    with read_scope() as db:
        return identity.start_page_for_ref(db, identity.session_ref(token))


class SignedInRedirect:
    def __init__(
        self, app: ASGIApp, *, session_cookie: str, start_page: Callable[[str], str | None]
    ) -> None:
        self.app = app
        self.session_cookie = session_cookie
        self.start_page = start_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope.get("type") == "http"
            and scope.get("method") in ("GET", "HEAD")
            and (path := str(scope.get("path", "")).rstrip("/")) in (SIGN_IN, HOME)
        ):
            token = cookie_value(scope.get("headers", ()), self.session_cookie)
            home = await asyncio.to_thread(self.start_page, token) if token else None
            if home is None and path == HOME:
                home = SIGN_IN
            if home:
                headers = [(b"location", home.encode()), (b"cache-control", b"no-store")]
                await send({"type": "http.response.start", "status": 303, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)
