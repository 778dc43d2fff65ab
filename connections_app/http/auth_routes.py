"""Sign-in and sign-out: plain HTTP so the session cookie can be HttpOnly.

The password goes from an HTML form straight to this route (never through the
Reflex websocket, whose payloads Reflex may log), and the cookie holds a random
token whose hash alone is stored. POSTs must come from the app's own origin.
Sign-in is throttled per client address and per account (`core/identity/throttle.py`);
its database and argon2 work runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from connections_app.core.db import session_scope
from connections_app.core.errors import Invalid
from connections_app.core.identity import service as identity
from connections_app.core.identity import throttle
from connections_app.core.settings import get_settings
from connections_app.http.client_address import client_address
from connections_app.http.origin import allowed_origins, same_origin

log = logging.getLogger(__name__)
MAX_FORM_BYTES = 8 * 1024
MAX_FORM_FIELDS = 5


def _safe_next(value: object) -> str:
    """Only local paths: an open redirect would hand the fresh session to a phishing page."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(c) < 32 for c in value) or len(value) > 300:
        return "/"
    return value


def _to_app(path: str) -> RedirectResponse:
    return RedirectResponse(get_settings().app_url + path, status_code=303)


async def read_form(
    request: Request, *, max_fields: int = MAX_FORM_FIELDS
) -> dict[str, str] | None:
    """A small urlencoded form (sign-in, accepting an invitation), or None for anything else.

    Bounded before parsing (the body is read up to MAX_FORM_BYTES, whatever
    Content-Length claims), UTF-8 only, at most `max_fields` fields, each name
    once: an odd or huge form gets one clear message and no work at all.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    length = request.headers.get("content-length")
    if kind != "application/x-www-form-urlencoded":
        return None
    if length is None or not length.isdigit() or int(length) > MAX_FORM_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=max_fields,
            errors="strict",
        )
    except ValueError:  # too many fields, or bytes that are not UTF-8 (UnicodeDecodeError)
        return None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            return None
        fields[name] = value
    return fields


def _check_password(email: object, password: object, client: str) -> str:
    """The blocking part of a sign-in (database and argon2), run in a worker thread so
    the event loop keeps serving every websocket of this worker meanwhile."""
    settings = get_settings()
    with session_scope() as db:
        user = identity.authenticate(db, email=email, password=password, client=client)
        return identity.start_session(db, user=user, ttl_hours=settings.session_ttl_hours)


async def sign_in(request: Request) -> Response:
    if not same_origin(request):
        return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
    form = await read_form(request)
    if form is None:
        return _to_app("/sign-in?error=form")
    next_path = _safe_next(form.get("next"))
    back = quote(next_path)
    client = throttle.client_key(client_address(request))
    try:
        token = await asyncio.to_thread(
            _check_password, form.get("email"), form.get("password"), client
        )
    except throttle.TooManyAttempts as err:
        wait = err.retry_after
        response = _to_app(f"/sign-in?error=throttled&wait={wait}&next={back}")
        response.headers["Retry-After"] = str(wait)
        return response
    except Invalid:
        return _to_app(f"/sign-in?error=invalid&next={back}")
    return set_session_cookie(_to_app(next_path), token)


def set_session_cookie(response: Response, token: str) -> Response:
    """The session cookie every sign-in sets (the form, an accepted invitation): HttpOnly,
    so no script of any page can read it; Lax, so another site cannot post with it."""
    settings = get_settings()
    response.set_cookie(
        settings.session_cookie_name,
        token,
        max_age=settings.session_ttl_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


async def sign_out(request: Request) -> Response:
    if not same_origin(request):
        return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
    settings = get_settings()
    token = request.cookies.get(settings.session_cookie_name)
    with session_scope() as db:
        identity.end_session(db, token)
    response = _to_app("/sign-in?signed_out=1")
    response.delete_cookie(settings.session_cookie_name, path="/")
    return response


routes = [
    Route("/auth/sign-in", sign_in, methods=["POST"]),
    Route("/auth/sign-out", sign_out, methods=["POST"]),
]

__all__ = ["allowed_origins", "routes"]
