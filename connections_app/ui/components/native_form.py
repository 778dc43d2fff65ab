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
