"""Clients (workspace admins): the people of the client organization and the
connections the agency asks them to authorize (F24).

Two sections, each with its own read-model: the people and their invitations
(`client_people`), and the connect links sent to them (`connect_link_admin`).
"""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.client_people import people_section
from connections_app.ui.components.connect_link_admin import connect_links_section
from connections_app.ui.components.layout import app_shell, page_header


def clients_page() -> rx.Component:
    return app_shell(
        page_header(
            "Clients",
            "Invite the people of this client to their portal, and ask them to connect "
            "the apps your workflows need. Nobody here can read what they enter.",
        ),
        rx.tabs.root(
            rx.tabs.list(
                rx.tabs.trigger("People", value="people", id="clients-tab-people"),
                rx.tabs.trigger("Connect links", value="links", id="clients-tab-links"),
            ),
            rx.tabs.content(people_section(), value="people", padding_top="16px"),
            rx.tabs.content(connect_links_section(), value="links", padding_top="16px"),
            default_value="people",
            width="100%",
        ),
    )
