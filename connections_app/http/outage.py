"""The outermost HTTP layer during a database outage: any route (the OAuth callbacks,
sign-in, invitations, the edge and session guards' lookups) whose database call fails
for want of a connection answers 503 "temporarily unavailable" with Retry-After, not
a stack trace; the next request after the database is back goes through as usual."""

from __future__ import annotations

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connections_app.core import outage


class OutageGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as err:
            if not outage.is_outage(err) or started:
                raise
            outage.note(scope.get("path", "?")[:80], err)
            response = PlainTextResponse(
                outage.MESSAGE,
                status_code=503,
                headers={
                    "Retry-After": str(outage.RETRY_AFTER_SECONDS),
                    "Cache-Control": "no-store",
                },
            )
            await response(scope, receive, send)


def outage_guard(asgi_app: ASGIApp) -> ASGIApp:
    return OutageGuard(asgi_app)
