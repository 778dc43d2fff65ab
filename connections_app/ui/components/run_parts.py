"""How a run and its steps look, on the Builder page and on the Runs page alike."""

from __future__ import annotations

import reflex as rx

RUN_COLORS = {
    "queued": "gray",
    "running": "blue",
    "waiting": "amber",
    "succeeded": "green",
    "failed": "red",
    "nothing_ran": "gray",
}
STEP_COLORS = {
    **{k: v for k, v in RUN_COLORS.items() if k != "nothing_ran"},
    "pending": "gray",
    "skipped": "gray",
}
RUN_WORDS = {
    "queued": "Queued",
    "running": "Running",
    "waiting": "Waiting for a connection",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "nothing_ran": "Nothing ran",
}


def run_badge(status: rx.Var) -> rx.Component:
    return rx.match(
        status,
        *[
            (k, rx.badge(RUN_WORDS[k], color_scheme=c, variant="soft", radius="full"))
            for k, c in RUN_COLORS.items()
        ],
        rx.badge(status, variant="soft", radius="full"),
    )


def step_line(step: rx.Var) -> rx.Component:
    color = rx.match(step["status"], *STEP_COLORS.items(), "gray")
    return rx.hstack(
        rx.icon(step["icon"], size=18, color=f"var(--{color}-10)"),
        rx.vstack(
            rx.hstack(
                rx.text(step["position"], ". ", step["label"], size="2", weight="medium"),
                rx.text(
                    step["app_name"], " · ", step["action_name"], size="1", color_scheme="gray"
                ),
                rx.cond(
                    step["connection"] != "",
                    rx.badge(rx.icon("key-round", size=12), step["connection"], variant="outline"),
                ),
                rx.badge(step["status"], color_scheme=color, variant="soft"),
                rx.cond(
                    step["http_status"] != "",
                    rx.text("HTTP ", step["http_status"], size="1", color_scheme="gray"),
                ),
                rx.cond(
                    step["attempts"] > 1,
                    rx.text("resumed · attempt ", step["attempts"], size="1", color_scheme="gray"),
                ),
                spacing="2",
                align="center",
                wrap="wrap",
            ),
            rx.cond(
                step["message"] != "",
                rx.text(step["message"], size="2", color=f"var(--{color}-11)"),
            ),
            rx.cond(
                step["result"] != "",
                rx.code(
                    step["result"],
                    size="1",
                    variant="ghost",
                    style={"white_space": "pre-wrap", "word_break": "break-all"},
                ),
            ),
            spacing="1",
            align="start",
            width="100%",
            min_width="0",  # may shrink: long messages wrap instead of widening the page
            overflow_wrap="anywhere",
        ),
        spacing="3",
        align="start",
        width="100%",
        class_name="cx-step",
        data_status=step["status"],
    )


def run_card(
    title: rx.Component, run: rx.Var, steps: rx.Var, *trailing: rx.Component, **props: object
) -> rx.Component:
    """One run as the Builder's latest run and each Runs page entry show it: the title,
    status and test-mode mark, the caller's `trailing` head items, why it waits or failed,
    then each step."""
    return rx.vstack(
        rx.hstack(
            title,
            run_badge(run["status"]),
            rx.cond(
                run["mode"] == "test",
                rx.badge("Test mode", color_scheme="purple", variant="soft"),
            ),
            *trailing,
            width="100%",
            align="center",
            spacing="2",
            wrap="wrap",  # the when · by · progress line wraps on a phone
        ),
        rx.cond(run["message"] != "", rx.text(run["message"], size="2", color_scheme="gray")),
        rx.foreach(steps, step_line),
        width="100%",
        spacing="2",
        padding="14px",
        border="1px solid var(--gray-a5)",
        border_radius="10px",
        data_status=run["status"],
        **props,
    )
