"""Sign-in: a native form posting to the HTTP route, so the password never enters Reflex."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.badges import icon_tile
from connections_app.ui.components.native_form import fresh_token_per_document, new_session_form
from connections_app.ui.components.urls import backend_url
from connections_app.ui.states.sign_in import SignInState


def _field(label: str, name: str, input_type: str, autocomplete: str) -> rx.Component:
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=name),
        rx.input(
            name=name,
            id=name,
            type=input_type,
            required=True,
            auto_complete=autocomplete,
            size="3",
            width="100%",
            max_length=254 if input_type == "email" else 256,
        ),
        spacing="1",
        width="100%",
    )


def sign_in_page() -> rx.Component:
    return rx.center(
        fresh_token_per_document(),
        rx.card(
            rx.vstack(
                rx.hstack(
                    icon_tile("key-round", 40, solid=True),
                    rx.vstack(
                        rx.heading("Sign in to Connections", size="5"),
                        rx.text(
                            "Credentials for every client workspace, kept apart.",
                            size="2",
                            color_scheme="gray",
                        ),
                        spacing="0",
                    ),
                    spacing="3",
                    align="center",
                ),
                rx.cond(
                    SignInState.error != "",
                    rx.callout(
                        SignInState.error,
                        icon="triangle-alert",
                        color_scheme="red",
                        role="alert",
                        width="100%",
                        id="sign-in-error",
                    ),
                ),
                rx.cond(
                    SignInState.notice != "",
                    rx.callout(SignInState.notice, icon="info", width="100%"),
                ),
                new_session_form(
                    rx.vstack(
                        _field("Email", "email", "email", "username"),
                        _field("Password", "password", "password", "current-password"),
                        rx.el.input(type="hidden", name="next", value=SignInState.next_path),
                        rx.button(
                            "Sign in", type="submit", size="3", width="100%", id="sign-in-submit"
                        ),
                        spacing="4",
                        width="100%",
                    ),
                    action=backend_url("/auth/sign-in"),
                    width="100%",
                ),
                spacing="5",
                width="100%",
            ),
            size="4",
            width="min(420px, calc(100vw - 32px))",
        ),
        min_height="100vh",
        background="linear-gradient(180deg, var(--accent-a2), var(--gray-a1))",
    )
