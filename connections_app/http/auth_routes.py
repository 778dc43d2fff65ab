"""Sign-in, sign-out and health: plain HTTP so the session cookie can be HttpOnly.

The password goes from an HTML form straight to this route (never through the
Reflex websocket, whose payloads Reflex may log), and the cookie holds a random
token whose hash alone is stored. POSTs must come from the app's own origin.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from connections_app.core.db import session_scope
from connections_app.core.errors import Invalid
from connections_app.core.identity import service as identity
from connections_app.core.settings import get_settings
from connections_app.core.vault import get_vault
from connections_app.http.origin import allowed_origins, same_origin

log = logging.getLogger(__name__)
MAX_FORM_BYTES = 8 * 1024


def _safe_next(value: object) -> str:
    """Only local paths: an open redirect would hand the fresh session to a phishing page."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(c) < 32 for c in value) or len(value) > 300:
        return "/"
    return value


def _to_app(path: str) -> RedirectResponse:
    return RedirectResponse(get_settings().app_url + path, status_code=303)


async def sign_in(request: Request) -> Response:
    if not same_origin(request):
        return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > MAX_FORM_BYTES:
        return _to_app("/sign-in?error=invalid")
    form = await request.form(max_files=0, max_fields=5)
    email, password = form.get("email"), form.get("password")
    next_path = _safe_next(form.get("next"))
    settings = get_settings()
    try:
        with session_scope() as db:
            user = identity.authenticate(db, email=email, password=password)
            token = identity.start_session(db, user=user, ttl_hours=settings.session_ttl_hours)
    except Invalid as err:
        code = "locked" if "Too many" in str(err) else "invalid"
        return _to_app(f"/sign-in?error={code}&next={quote(next_path)}")
    response = _to_app(next_path)
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


async def health(_request: Request) -> Response:
    try:
        with session_scope() as db:
            db.execute(text("select 1"))
        get_vault()
    except Exception as err:  # health must answer, not raise
        log.error("health check failed: %s", type(err).__name__)
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


routes = [
    Route("/auth/sign-in", sign_in, methods=["POST"]),
    Route("/auth/sign-out", sign_out, methods=["POST"]),
    Route("/healthz", health, methods=["GET"]),
]

__all__ = ["allowed_origins", "routes"]
