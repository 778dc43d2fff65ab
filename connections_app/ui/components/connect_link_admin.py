"""The Connect links section of the Clients page: requests sent to clients (F24)."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.layout import empty_state


def connect_links_section() -> rx.Component:
    # Filled by the connect-links change (issue 13).
    return empty_state("link", "No connect links yet", "Connect links arrive with issue 13.")
