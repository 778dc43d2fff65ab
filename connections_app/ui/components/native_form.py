"""A plain HTML form that really submits to an HTTP route.

`rx.el.form` always installs a submit handler that calls `preventDefault` and
routes the fields through the Reflex websocket. Sign-in and sign-out must not:
the password has to travel in an ordinary POST to our HTTP route (Reflex may
log event payloads) and the response has to set or clear the HttpOnly cookie.
"""

from __future__ import annotations

import reflex as rx
from reflex_components_core.el.elements.base import BaseHTML


class NativeForm(BaseHTML):
    tag = "form"

    action: rx.Var[str]
    method: rx.Var[str]
    auto_complete: rx.Var[str]


native_form = NativeForm.create


# Reflex keeps a tab's state under a token in sessionStorage and routes every reply to
# the socket registered for that token. A full navigation (a link to another page, a
# native form submit, a reload) reuses the token: the old page's socket may be
# unregistered (its disconnect handled late, perhaps by another worker) after the new
# page's socket registered the same token, and the new page's replies then go nowhere
# (seen as a page stuck without its session). Every page of ours rebuilds its state
# from the server-side session on load, so a page that is left gives its token up:
# the next document draws a new one, and with it a state no late disconnect can touch.
# (The page being left keeps its token in memory: a page restored from the
# back-forward cache goes on with it.)
_NEW_STATE_SCRIPT = (
    "if (!window.__cxFreshToken) { window.__cxFreshToken = true;"
    "window.addEventListener('pagehide', function () {"
    "  try { window.sessionStorage.removeItem('token'); } catch (err) {}"
    "}); }"
)


def fresh_token_per_document() -> rx.Component:
    """The script that gives the next document after this one a new Reflex token (one
    listener per window; every page's shell includes it)."""
    return rx.script(_NEW_STATE_SCRIPT)


def new_session_form(*children: rx.Component, action: str, **props: object) -> rx.Component:
    """A native POST form whose response starts or ends a session (sign-in, sign-out)."""
    return native_form(
        *children,
        action=action,
        method="post",
        **props,
    )
