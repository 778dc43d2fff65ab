"""The People section of the Clients page: client users and their invitations."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.layout import empty_state


def people_section() -> rx.Component:
    # Filled by the invitations change (issue 13).
    return empty_state("users", "No clients yet", "Invitations arrive with issue 13.")
