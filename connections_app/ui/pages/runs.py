"""Run history: every run of this workspace (or of one workflow), newest first, with the
status of each step and why a step waits or failed (F22, F30)."""

from __future__ import annotations

import reflex as rx

from connections_app.ui.components.form_parts import pager
from connections_app.ui.components.layout import app_shell, empty_state, page_header
from connections_app.ui.components.run_parts import run_card
from connections_app.ui.states.runs import RunsState as R


def _run_card(run: rx.Var) -> rx.Component:
    return run_card(
        rx.link(run["workflow"], href="/builder?wf=" + run["workflow_id"], weight="medium"),
        run,
        R.steps[run["id"]],
        rx.spacer(),
        rx.text(
            run["when"],
            " · by ",
            run["started_by"],
            " · ",
            run["progress"],
            size="1",
            color_scheme="gray",
        ),
        class_name="cx-run",
    )


def runs_page() -> rx.Component:
    return app_shell(
        page_header(
            "Runs",
            "What each run did, step by step. A step whose connection needs reconnecting "
            "waits and continues by itself once it is reconnected.",
            rx.cond(
                R.workflow_id != "",
                rx.button(
                    rx.el.a("All workflows", href="/runs"),
                    as_child=True,
                    variant="soft",
                    white_space="nowrap",
                ),
            ),
        ),
        rx.cond(
            R.error != "",
            rx.callout(R.error, icon="triangle-alert", color_scheme="red", width="100%"),
        ),
        rx.cond(
            ~R.loaded,
            rx.center(rx.spinner(size="3"), padding="48px", width="100%"),
            rx.cond(
                R.total > 0,
                rx.vstack(
                    rx.foreach(R.rows, _run_card),
                    pager(
                        summary=R.page_summary,
                        on_previous=R.previous_page,
                        on_next=R.next_page,
                        at_first=R.page <= 1,
                        has_next=R.has_next,
                    ),
                    width="100%",
                    spacing="3",
                ),
                empty_state(
                    "history",
                    "No runs yet",
                    "Run a workflow from the Builder; its steps and their results appear here.",
                    rx.button(rx.el.a("Open the Builder", href="/builder"), as_child=True),
                ),
            ),
        ),
    )
