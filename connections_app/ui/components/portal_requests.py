"""The portal's pending requests: connect links the agency sent this client (F24)."""

from __future__ import annotations

import reflex as rx


def pending_requests_section() -> rx.Component:
    # Filled by the connect-links change (issue 13).
    return rx.fragment()
