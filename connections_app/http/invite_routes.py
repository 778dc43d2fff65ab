"""The page an invitation link opens (F24): `/invite/<token>`.

Plain server-rendered HTML, not a Reflex page: the person has no session yet, the
password goes from the form straight to this route (never through the websocket,
whose payloads Reflex may log), and the token in the URL must not reach Reflex's
state. The page runs no script, loads nothing, may not be framed and is never
cached; its form posts back to the same URL, so the token is never written into
the page either. Every value shown is HTML-escaped.

`Referrer-Policy: strict-origin` rather than `no-referrer`: browsers send
`Origin: null` on a form POST from a no-referrer page, which the same-origin
check must refuse; strict-origin sends the origin alone (never the path, so never
the token) as Referer and Origin.
"""

from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from connections_app.core.db import session_scope
from connections_app.core.errors import Conflict, Invalid, NotFound
from connections_app.core.identity import invitations, throttle
from connections_app.core.identity.service import MIN_PASSWORD, PORTAL_PAGE
from connections_app.core.settings import get_settings
from connections_app.http.auth_routes import read_form, set_session_cookie
from connections_app.http.client_address import client_address
from connections_app.http.origin import same_origin

FORM_FIELDS = ("name", "password", "confirm", "current_password")
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "strict-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
}
_STYLE = """body{font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem;
color:#1c2024;line-height:1.5}h1{font-size:1.4rem}label{display:block;margin-top:.9rem;
font-weight:600}input{display:block;width:100%;box-sizing:border-box;font-size:1rem;
padding:.45rem .6rem;margin-top:.25rem;border:1px solid #b9bbc6;border-radius:6px}
button{margin-top:1.2rem;font-size:1rem;padding:.5rem 1.2rem;border-radius:6px;border:0;
background:#3e63dd;color:#fff;cursor:pointer}p.msg{padding:.7rem 1rem;border-radius:8px;
background:#feebec}p.hint{color:#60646c;font-size:.9rem}.who{font-weight:600}"""


def _page(title: str, body: str, status: int) -> HTMLResponse:
    document = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body><main>{body}</main></body></html>"""
    return HTMLResponse(document, status_code=status, headers=_HEADERS)


def invalid_page(message: str = invitations.INVALID_LINK, status: int = 404) -> HTMLResponse:
    body = (
        '<h1 id="invite-title">Invitation link not valid</h1>'
        f'<p class="msg" id="invite-error" role="alert">{html.escape(message)}</p>'
    )
    return _page("Invitation not valid · Connections", body, status)


def _field(name: str, label: str, kind: str, autocomplete: str, value: str = "") -> str:
    shown = f' value="{html.escape(value)}"' if value else ""
    extra = (
        f' minlength="{MIN_PASSWORD}"' if kind == "password" and name != "current_password" else ""
    )
    return (
        f'<label for="invite-{name}">{html.escape(label)}</label>'
        f'<input id="invite-{name}" name="{name}" type="{kind}" required '
        f'autocomplete="{autocomplete}"{extra}{shown}>'
    )


def accept_page(
    preview: invitations.InvitePreview, *, error: str = "", name: str = "", status: int = 200
) -> HTMLResponse:
    """The invitation and its form: set a password, or confirm the account's own."""
    agency, workspace = html.escape(preview.agency), html.escape(preview.workspace)
    heading = f"{agency} invites you to the {workspace} client portal"
    alert = (
        f'<p class="msg" id="invite-error" role="alert">{html.escape(error)}</p>' if error else ""
    )
    if preview.has_account:
        hint = (
            "You already have an account with this email. Enter its password to add "
            f"the {workspace} portal to it."
        )
        fields = _field("current_password", "Your current password", "password", "current-password")
        button = "Join the portal"
    else:
        hint = f"Choose a password (at least {MIN_PASSWORD} characters) to open your portal."
        fields = (
            _field("name", "Your name", "text", "name", name or preview.name)
            + _field("password", "Password", "password", "new-password")
            + _field("confirm", "Confirm password", "password", "new-password")
        )
        button = "Set password and open the portal"
    body = (
        f'<h1 id="invite-title">{heading}</h1>'
        f'<p>Invitation for <span class="who" id="invite-email">{html.escape(preview.email)}'
        f"</span></p>{alert}"
        f'<form method="post" id="invite-form"><p class="hint">{hint}</p>{fields}'
        f'<button type="submit" id="invite-submit">{button}</button></form>'
        '<p class="hint">The people of the agency cannot read the password you choose, '
        "nor anything you connect in the portal.</p>"
    )
    return _page(f"{preview.agency} · Client portal invitation", body, status)


@dataclass(frozen=True)
class _Refused:
    """The form was refused: show the page again with why (or the invalid-link page)."""

    message: str
    status: int
    preview: invitations.InvitePreview | None
    retry_after: int | None = None


def _preview(token: str) -> invitations.InvitePreview:
    with session_scope() as db:
        return invitations.preview(db, token)


def _accept(token: str, form: dict[str, str], client: str) -> invitations.Accepted | _Refused:
    """The blocking part (database and argon2), run in a worker thread."""
    settings = get_settings()
    try:
        with session_scope() as db:
            return invitations.accept(
                db,
                token,
                name=form.get("name"),
                password=form.get("password"),
                confirm=form.get("confirm"),
                current_password=form.get("current_password"),
                client=client,
                ttl_hours=settings.session_ttl_hours,
            )
    except NotFound:
        return _Refused(invitations.INVALID_LINK, 404, None)
    except throttle.TooManyAttempts as err:
        return _Refused(str(err), 429, _safe_preview(token), err.retry_after)
    except (Invalid, Conflict) as err:
        return _Refused(str(err), 400 if isinstance(err, Invalid) else 409, _safe_preview(token))


def _safe_preview(token: str) -> invitations.InvitePreview | None:
    try:
        return _preview(token)
    except NotFound:
        return None


async def show(request: Request) -> Response:
    token = request.path_params["token"]
    try:
        preview = await asyncio.to_thread(_preview, token)
    except NotFound:
        return invalid_page()
    return accept_page(preview)


async def submit(request: Request) -> Response:
    if not same_origin(request):
        return invalid_page("This form can only be sent from the invitation page itself.", 403)
    token = request.path_params["token"]
    form = await read_form(request, max_fields=len(FORM_FIELDS))
    if form is None or not set(form) <= set(FORM_FIELDS):
        preview = await asyncio.to_thread(_safe_preview, token)
        if preview is None:
            return invalid_page()
        return accept_page(preview, error="The form could not be read. Try again.", status=400)
    client = throttle.client_key(client_address(request))
    outcome = await asyncio.to_thread(_accept, token, form, client)
    if isinstance(outcome, _Refused):
        if outcome.preview is None:
            return invalid_page()
        page = accept_page(
            outcome.preview, error=outcome.message, name=form.get("name", ""), status=outcome.status
        )
        if outcome.retry_after is not None:
            page.headers["Retry-After"] = str(outcome.retry_after)
        return page
    response = RedirectResponse(get_settings().app_url + PORTAL_PAGE, status_code=303)
    return set_session_cookie(response, outcome.session_token)


routes = [
    Route("/invite/{token}", show, methods=["GET"]),
    Route("/invite/{token}", submit, methods=["POST"]),
]
