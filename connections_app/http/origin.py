"""CSRF defence for state-changing routes: the request must come from the app's origin."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from connections_app.core.settings import get_settings


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins() -> set[str]:
    settings = get_settings()
    return {_origin_of(settings.app_url), _origin_of(settings.api_url)}


def same_origin(request: Request) -> bool:
    """Browsers send Origin on POST; fall back to Referer; refuse when neither matches."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return origin.lower() in allowed_origins()
    referer = request.headers.get("referer")
    if referer:
        return _origin_of(referer) in allowed_origins()
    return False
