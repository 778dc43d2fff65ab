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
# the socket registered for that token. A native form submit is a full navigation:
# the old page's socket may be unregistered (its disconnect handled late, perhaps by
# another worker) after the new page's socket registered the same token, and the new
# page's first replies then go nowhere (seen as a page stuck without its session after
# sign-in). Signing in or out starts a new session anyway, so the next page gets a
# new token, and with it a state no late disconnect can touch.
_NEW_STATE_SCRIPT = (
    "if (!window.__cxFreshToken) { window.__cxFreshToken = true;"
    "document.addEventListener('submit', function (e) {"
    "  var f = e.target;"
    "  if (f && f.matches && f.matches('form[data-cx-new-session]')) {"
    "    try { window.sessionStorage.removeItem('token'); } catch (err) {}"
    "  }"
    "}, true); }"
)


def fresh_token_on_submit() -> rx.Component:
    """The script that gives the page after a sign-in or sign-out form a new Reflex token
    (one listener per window; forms opt in with `new_session_form`)."""
    return rx.script(_NEW_STATE_SCRIPT)


def new_session_form(*children: rx.Component, action: str, **props: object) -> rx.Component:
    """A native POST form whose response starts or ends a session (sign-in, sign-out)."""
    return native_form(
        *children,
        action=action,
        method="post",
        custom_attrs={"data-cx-new-session": "true"},
        **props,
    )
