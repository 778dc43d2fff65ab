"""The edge guard at the ASGI level: which websockets reach Reflex, what they carry
instead of the session cookie, and the headers every HTTP response gets."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from connections_app.core.identity import service as identity
from connections_app.http.security import (
    EdgeGuard,
    content_security_policy,
    inline_scripts,
    script_hash,
)

APP = "http://localhost:3000"
API = "http://localhost:8000"
TOKEN = "s3ss10n-t0k3n-Abcdefghijklmnopqrstuvwxyz012"
POLICY = content_security_policy(origins=[APP, API], script_hashes=[script_hash("go()")])


class Inner:
    """Stands in for Reflex: records the scope it was given."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        await receive()
        await send({"type": "websocket.accept"})


def _guard(inner: Any) -> EdgeGuard:
    return EdgeGuard(
        inner,
        allowed_origins=[APP, API],
        session_cookie="cx_session",
        ref_cookie=identity.ref_cookie_name("cx_session"),
        session_ref=identity.session_ref,
        policy=lambda: POLICY,
    )


def _handshake(guard: EdgeGuard, headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/_event/", "headers": headers}
    asyncio.run(guard(scope, receive, send))
    return sent


def test_websockets_without_the_apps_origin_never_reach_reflex() -> None:
    inner = Inner()
    guard = _guard(inner)
    for headers in (
        [],
        [(b"origin", b"https://evil.example")],
        [(b"origin", b"null")],
        [(b"origin", b"http://localhost:3000.evil.example")],
        [(b"origin", APP.encode()), (b"origin", b"https://evil.example")],
    ):
        sent = _handshake(guard, [*headers, (b"cookie", f"cx_session={TOKEN}".encode())])
        assert sent == [{"type": "websocket.close", "code": 1008}]  # 403 at the handshake
    assert inner.scopes == []
    assert _handshake(guard, [(b"origin", b"HTTP://LOCALHOST:8000")])[0]["type"] == (
        "websocket.accept"
    )


def test_reflex_gets_a_reference_instead_of_any_credential() -> None:
    inner = Inner()
    forged_ref = "0" * 64
    _handshake(
        _guard(inner),
        [
            (b"origin", APP.encode()),
            (b"cookie", f"theme=dark; cx_session={TOKEN}".encode()),
            (b"cookie", f"cx_session_ref={forged_ref}".encode()),
            (b"authorization", b"Bearer abcdefghijklmnop"),
            (b"user-agent", b"test"),
        ],
    )
    (scope,) = inner.scopes
    headers = scope["headers"]
    ref = hashlib.sha256(TOKEN.encode()).hexdigest()
    assert (b"cookie", f"cx_session_ref={ref}".encode()) in headers
    assert [k for k, _ in headers].count(b"cookie") == 1
    assert b"authorization" not in [k for k, _ in headers]
    flat = repr(headers)
    assert TOKEN not in flat and forged_ref not in flat and "theme" not in flat
    assert (b"user-agent", b"test") in headers  # nothing else is touched


def test_a_client_supplied_reference_is_dropped() -> None:
    inner = Inner()
    _handshake(
        _guard(inner),
        [(b"origin", APP.encode()), (b"cookie", b"cx_session_ref=" + b"a" * 64)],
    )
    assert not [v for k, v in inner.scopes[0]["headers"] if k == b"cookie"]


def _http_app() -> EdgeGuard:
    async def page(_request: Any) -> HTMLResponse:
        return HTMLResponse("<script>go()</script>")

    async def own_policy(_request: Any) -> PlainTextResponse:
        return PlainTextResponse("x", headers={"Content-Security-Policy": "default-src 'none'"})

    inner = Starlette(routes=[Route("/", page), Route("/own", own_policy)])
    return _guard(inner)


def test_every_http_response_gets_the_headers_and_a_route_may_tighten_its_policy() -> None:
    async def run() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=_http_app())
        async with httpx.AsyncClient(transport=transport, base_url=APP) as client:
            return (
                await client.get("/"),
                await client.get("/own"),
                await client.get("/missing"),
            )

    page, own, missing = asyncio.run(run())
    for response in (page, missing):
        assert response.headers["content-security-policy"] == POLICY
    assert own.headers["content-security-policy"] == "default-src 'none'"
    for response in (page, own, missing):
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert script_hash(inline_scripts(page.text)[0]) in POLICY


def test_the_policy_allows_hashed_scripts_and_the_apps_sockets_only() -> None:
    directives = dict(d.split(" ", 1) for d in POLICY.split("; "))
    assert directives["script-src"] == f"'self' 'unsafe-eval' {script_hash('go()')}"
    assert (
        directives["connect-src"] == f"'self' {APP} {API} ws://localhost:3000 ws://localhost:8000"
    )
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert inline_scripts('<script src="/a.js"></script><script type="module">x()</script>') == [
        "x()"
    ]
