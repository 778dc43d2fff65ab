"""`/connect/[token]`: the agency-branded page where a client answers a connect link
(F24). Everything it shows is the core's read-model of the link; a link that cannot be
used is one clear page and nothing else."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.add_dialog import catalog_field
from connections_app.ui.components.connection_table import app_icon
from connections_app.ui.components.layout import app_shell
from connections_app.ui.states.connect_link import ConnectLinkState as S

FORM_ID = "connect-link-form"


def _card(*children: rx.Component) -> rx.Component:
    return rx.card(
        rx.vstack(*children, spacing="4", width="100%"),
        width="100%",
        max_width="560px",
        size="3",
    )


def _problem() -> rx.Component:
    return _card(
        rx.hstack(
            rx.icon("link-2-off", size=28, color="var(--red-9)"),
            rx.heading(S.problem_title, size="5", as_="h1", id="connect-link-problem"),
            align="center",
            spacing="3",
        ),
        rx.text(S.problem, size="3", id="connect-link-problem-message"),
        rx.text("Nothing was connected.", size="2", color_scheme="gray"),
        rx.button(
            rx.el.a("Go to My connections", href="/portal/connections"),
            as_child=True,
            variant="soft",
        ),
    )


def _done() -> rx.Component:
    return _card(
        rx.hstack(
            rx.icon("circle-check", size=28, color="var(--green-9)"),
            rx.heading("Connected", size="5", as_="h1", id="connect-link-done"),
            align="center",
            spacing="3",
        ),
        rx.text(
            "“",
            S.done_label,
            "” is connected for ",
            S.agency,
            " — see it in My connections.",
            size="3",
        ),
        rx.button(
            rx.el.a("Open My connections", href="/portal/connections", id="connect-link-portal"),
            as_child=True,
        ),
    )


def _oauth() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Sign in at ",
            S.app_name,
            " in a popup and allow access. No password or token passes through this page.",
            size="2",
            color_scheme="gray",
        ),
        rx.button(
            rx.el.a(
                rx.icon("log-in", size=16),
                "Connect ",
                S.app_name,
                href=S.oauth_url,
                target="cx-oauth",
                id="connect-link-oauth",
            ),
            as_child=True,
            size="3",
            width="100%",
        ),
        width="100%",
        spacing="3",
    )


def _form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.foreach(S.fields, lambda f: catalog_field(f, S, "link")),
            rx.cond(
                (S.error != "") & (S.error_field == ""),
                rx.callout(S.error, icon="triangle-alert", color_scheme="red", role="alert"),
            ),
            rx.button(
                rx.cond(S.busy, "Connecting…", "Connect"),
                type="submit",
                disabled=S.busy,
                id="connect-link-submit",
                size="3",
                width="100%",
            ),
            width="100%",
            spacing="3",
        ),
        id=FORM_ID,
        on_submit=S.submit,
        reset_on_submit=True,
        width="100%",
    )


def _request() -> rx.Component:
    return _card(
        rx.hstack(
            app_icon(S.app_icon, S.app_name, "48px"),
            rx.vstack(
                rx.heading(
                    S.agency,
                    " asks you to connect ",
                    S.app_name,
                    " for ",
                    S.workspace,
                    size="5",
                    as_="h1",
                    id="connect-link-title",
                ),
                rx.text("Suggested name: ", rx.el.strong(S.label), size="2"),
                spacing="1",
            ),
            spacing="4",
            align="center",
        ),
        rx.callout(
            rx.fragment(
                "Your credentials are encrypted; nobody at ",
                S.agency,
                " can read them. You can revoke this connection at any time in My connections.",
            ),
            icon="shield-check",
            color_scheme="green",
        ),
        rx.cond(S.method == "oauth", _oauth(), _form()),
        rx.text("This link expires ", S.expires, " and works once.", size="1", color_scheme="gray"),
    )


def connect_link_page() -> rx.Component:
    return app_shell(
        rx.center(
            rx.cond(
                S.link_loaded,
                rx.cond(
                    S.done_label != "",
                    _done(),
                    rx.cond(S.problem != "", _problem(), _request()),
                ),
                rx.spinner(size="3"),
            ),
            width="100%",
            padding_top="24px",
        )
    )
