"""Where the backend's HTTP routes live as seen from the browser.

In dev mode the frontend and the backend listen on different ports, so forms
that post to an HTTP route need the backend's absolute URL.
"""

from __future__ import annotations

import reflex as rx


def backend_url(path: str) -> str:
    return rx.config.get_config().api_url.rstrip("/") + path
