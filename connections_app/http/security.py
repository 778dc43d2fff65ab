"""The app's outermost ASGI layer: the headers every response carries, and what the
Reflex websocket is allowed to see of a browser.

HTTP: every response (frontend pages in single-port mode, backend routes, the
OAuth callback page) gets a Content-Security-Policy, `X-Frame-Options: DENY`,
`X-Content-Type-Options: nosniff` and a Referrer-Policy, unless the route set
its own (the OAuth callback sets a tighter CSP for its one inline script).

Websocket: Reflex accepts a socket from any page that sends no Origin and keeps
the handshake headers, raw `Cookie` included, in its state store (`.states/`
or Redis) and in some log lines. So a socket must come from one of the app's
own origins, and it never sees a credential: every cookie and any
Authorization header are dropped, and the session cookie is replaced by its
reference (`<cookie>_ref=SHA-256(token)`, see `identity.session_ref`). A
reference a client sends itself is dropped with the other cookies, and HTTP
routes accept only the raw cookie, so a reference read from a store or a log
signs nobody in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Headers a websocket handshake may carry that hold credentials.
_CREDENTIAL_HEADERS = {b"cookie", b"authorization", b"proxy-authorization"}
_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.I | re.S)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def script_hash(text: str) -> str:
    """The CSP source that allows exactly this inline script."""
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def inline_scripts(html: str) -> list[str]:
    """The bodies of the inline `<script>` elements of a built HTML page."""
    return [m.group(1) for m in _INLINE_SCRIPT.finditer(html)]


def content_security_policy(*, origins: Iterable[str], script_hashes: Iterable[str]) -> str:
    """The policy of the app's pages and routes.

    Scripts: the app's own files and the inline scripts whose hashes were computed
    from the build and the page components — no 'unsafe-inline'. 'unsafe-eval'
    stays because Reflex runs every server-sent `call_script`/`call_function`
    (toasts, redirects by script) through `eval`. Styles allow inline: Radix and
    emotion inject <style> elements at run time. Connections: the app's origins
    and their websocket twins. No page may be framed.
    """
    own = sorted({origin_of(o) for o in origins})
    sockets = sorted({o.replace("https://", "wss://").replace("http://", "ws://") for o in own})
    hashes = sorted(set(script_hashes))
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'unsafe-eval'", *hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'", *own, *sockets],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'", *own],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def cookie_value(headers: Iterable[tuple[bytes, bytes]], name: str) -> str | None:
    """The value of cookie `name` in raw ASGI headers (None when absent or unreadable)."""
    values = [v.decode("latin-1") for k, v in headers if k.lower() == b"cookie"]
    if not values:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load("; ".join(values))
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def page_headers(policy: str, *, https: bool) -> list[tuple[bytes, bytes]]:
    """The headers every response carries unless the route set its own.

    Referrer-Policy is `strict-origin-when-cross-origin`, not `same-origin`: under
    `same-origin` a browser sends `Origin: null` on cross-origin POSTs, and in `make
    run` the sign-in form (port 3000) posts to the backend (port 8000), whose CSRF
    check needs the real Origin. Other sites still get the origin only.
    """
    headers = [
        (b"content-security-policy", policy.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
    ]
    if https:
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    return headers


class EdgeGuard:
    """ASGI wrapper; see the module docstring. `policy` is called once, lazily (the
    script hashes come from the frontend build, which may finish after import)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_origins: Iterable[str],
        session_cookie: str,
        ref_cookie: str,
        session_ref: Callable[[str], str | None],
        policy: Callable[[], str],
        https: bool = False,
    ) -> None:
        self.app = app
        self.allowed_origins = {origin_of(o) for o in allowed_origins}
        self.session_cookie = session_cookie
        self.ref_cookie = ref_cookie
        self.session_ref = session_ref
        self._policy = policy
        self._https = https
        self._headers: list[tuple[bytes, bytes]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "websocket":
            if not self._origin_allowed(scope):
                await self._refuse(scope, receive, send)
                return
            await self.app(self._without_credentials(scope), receive, send)
        elif kind == "http":
            await self.app(scope, receive, self._adding_headers(send))
        else:
            await self.app(scope, receive, send)

    # --- websocket ------------------------------------------------------------------

    def _origin_allowed(self, scope: Scope) -> bool:
        origins = [v for k, v in scope.get("headers", ()) if k.lower() == b"origin"]
        if len(origins) != 1:
            return False
        return origins[0].decode("latin-1").lower() in self.allowed_origins

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = next((v for k, v in scope.get("headers", ()) if k.lower() == b"origin"), b"")
        log.warning(
            "websocket refused: origin %s is not the app's",
            json.dumps(origin.decode("latin-1")[:200]) if origin else "missing",
        )
        message = await receive()
        if message.get("type") == "websocket.connect":
            await send({"type": "websocket.close", "code": 1008})

    def _without_credentials(self, scope: Scope) -> Scope:
        headers = list(scope.get("headers", ()))
        token = self._session_token(headers)
        kept = [(k, v) for k, v in headers if k.lower() not in _CREDENTIAL_HEADERS]
        ref = self.session_ref(token) if token else None
        if ref:
            kept.append((b"cookie", f"{self.ref_cookie}={ref}".encode()))
        return {**scope, "headers": kept}

    def _session_token(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        return cookie_value(headers, self.session_cookie)

    # --- http -----------------------------------------------------------------------

    def _page_headers(self) -> list[tuple[bytes, bytes]]:
        if self._headers is None:
            self._headers = page_headers(self._policy(), https=self._https)
        return self._headers

    def _adding_headers(self, send: Send) -> Send:
        async def sending(message: Message) -> None:
            if message.get("type") == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {k.lower() for k, _ in headers}
                headers.extend((k, v) for k, v in self._page_headers() if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        return sending
