"""The popup half of the OAuth connect flow (F16).

`/oauth/start` runs in the popup the Connect button opens: it identifies the
person by the session cookie (never by a parameter), records the flow and sends
the popup to the provider. `/oauth/callback` finishes the flow server-side and
answers with a small page that tells its opener the outcome with `postMessage`
(to the app's own origin only) and closes. Neither page ever contains a token,
code verifier or client secret; the code in the callback URL is single-use and
the page is served with `Referrer-Policy: no-referrer`, `no-store` and a CSP that
runs its one inline script (by hash) and nothing else.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from connections_app.core.connections import oauth_lifecycle
from connections_app.core.db import session_scope
from connections_app.core.errors import DomainError, Unauthenticated
from connections_app.core.identity import service as identity
from connections_app.core.oauth import flow
from connections_app.core.settings import get_settings
from connections_app.core.vault import get_vault
from connections_app.http.security import script_hash

log = logging.getLogger(__name__)
MESSAGE_TYPE = "connections:oauth"
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def _page_policy(script: str) -> str:
    """Tighter than the app's policy: this page runs its one inline script and loads
    nothing, posts nothing and may not be framed."""
    return (
        f"default-src 'none'; script-src {script_hash(script)}; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def callback_url() -> str:
    return get_settings().api_url + "/oauth/callback"


def _app_origin() -> str:
    parts = urlsplit(get_settings().app_url)
    return f"{parts.scheme}://{parts.netloc}"


def result_page(ok: bool, message: str, status: int = 200) -> HTMLResponse:
    """Tell the opener (same origin only) and close; a person without an opener reads it."""
    payload = json.dumps({"type": MESSAGE_TYPE, "ok": ok})
    origin = json.dumps(_app_origin())
    title = "Connected" if ok else "Not connected"
    # No inline event handlers (the CSP allows this one script by hash, nothing else);
    # the script's text depends only on `ok` and the configured origin.
    script = f"""
(function () {{
  var close = document.getElementById('close');
  if (close) close.addEventListener('click', function () {{ window.close(); }});
  try {{
    if (window.opener && !window.opener.closed) {{
      window.opener.postMessage({payload}, {origin});
      setTimeout(function () {{ window.close(); }}, {1200 if ok else 4000});
    }}
  }} catch (e) {{}}
}})();
"""
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;
color:#1c2024}}p.msg{{padding:.8rem 1rem;border-radius:8px;background:{
        "#e6f6eb" if ok else "#feebec"
    }}}button{{font-size:1rem;padding:.4rem 1rem}}</style></head>
<body><h1>{title}</h1><p class="msg" role="status">{html.escape(message)}</p>
<p><button type="button" id="close">Close this window</button></p>
<script>{script}</script></body></html>"""
    headers = {**_HEADERS, "Content-Security-Policy": _page_policy(script)}
    return HTMLResponse(body, status_code=status, headers=headers)


def _session_token(request: Request) -> str | None:
    return request.cookies.get(get_settings().session_cookie_name)


def _start(
    token: str | None,
    app: str | None,
    target: str,
    node: str | None,
    oauth_app: str | None = None,
    another: bool = False,
    scope: str = "workspace",
    link: str | None = None,
) -> str:
    with session_scope() as db:
        actor = identity.actor_for_token(db, token)
        return oauth_lifecycle.start(
            db,
            actor=actor,
            session_token=token or "",
            app=app,
            redirect_uri=callback_url(),
            vault=get_vault(),
            target=target,
            node=node,
            oauth_app=oauth_app,
            another_account=another,
            scope=scope,
            link=link,
        )


async def start(request: Request) -> Response:
    token = _session_token(request)
    app = request.query_params.get("app")
    target = request.query_params.get("target") or "new"
    node = request.query_params.get("node") or None
    # A custom provider: which of the account's OAuth apps; "Connect another account".
    oauth_app = request.query_params.get("oauth_app") or None
    another = request.query_params.get("another") == "1"
    # An account admin connecting an account connection (the account screens' Add).
    scope = request.query_params.get("scope") or "workspace"
    # A client answering a connect link (F24): the link's id; the core resolves it for
    # the session's person, and it decides the app.
    link = request.query_params.get("link") or None
    try:
        # Database work in a worker thread: the event loop serves every websocket.
        url = await asyncio.to_thread(
            _start, token, app, target, node, oauth_app, another, scope, link
        )
    except Unauthenticated:
        return result_page(False, "Your session ended. Sign in again, then connect.", 401)
    except DomainError as err:
        return result_page(False, str(err), 400)
    return RedirectResponse(url, status_code=302, headers=_HEADERS)


def _finish(token: str | None, params: dict[str, str]) -> flow.FlowOutcome:
    with session_scope() as db:
        return oauth_lifecycle.finish(db, session_token=token, params=params, vault=get_vault())


async def callback(request: Request) -> Response:
    params = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
    try:
        # The code exchange and the identity call wait on the provider: never on the
        # event loop, where they would stall every websocket of this worker.
        outcome = await asyncio.to_thread(_finish, _session_token(request), params)
    except DomainError as err:
        return result_page(False, str(err), 400)
    if not outcome.ok:
        log.info("oauth connect refused: %s", outcome.message)
    return result_page(outcome.ok, outcome.message, 200 if outcome.ok else 400)


routes = [
    Route("/oauth/start", start, methods=["GET"]),
    Route("/oauth/callback", callback, methods=["GET"]),
]
