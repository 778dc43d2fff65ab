"""Embedded workflows in real browsers (F32): a workspace admin turns on "Use for
embedded workflows" for one Stripe connection; a client builds a workflow in the
portal, finds only that connection in its node's picker, runs it against the
stand-in and sees it succeed; the admin's Runs page shows the run as the client's;
turning the switch off takes the connection out of the client's open picker within
two seconds and the node says it is no longer available."""

from __future__ import annotations

from playwright.sync_api import expect

from connections_app.standin.app import DEMO_CREDENTIALS
from tests.e2e.conftest import UI
from tests.e2e.test_builder import _add_node, _close_panel
from tests.e2e.test_integrations import add_via_cli, assert_nowhere, table, unique
from tests.standin_fixtures import StandIn

STRIPE = DEMO_CREDENTIALS["stripe"]["secret_key"]
SWITCH = "Use for embedded workflows"


def _flip(ui: UI, label: str, *, on: bool) -> None:
    """Open the connection's details on Integrations and set the switch."""
    page = ui.page
    page.get_by_role("link", name=label).click()
    switch = page.locator("#details-panel").get_by_role("switch", name=SWITCH)
    expect(switch).to_have_attribute("aria-checked", "false" if on else "true")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true" if on else "false")


def test_client_builds_and_runs_with_an_exposed_connection(
    ui: UI, other: UI, standin: StandIn
) -> None:
    exposed, internal = unique("Stripe for clients"), unique("Stripe internal")
    add_via_cli(ui, exposed, STRIPE)
    add_via_cli(ui, internal, STRIPE)

    # Wes exposes one of them in its details panel; the list marks it.
    wes = ui.page
    ui.sign_in("wes@northstar.test")
    expect(table(wes)).to_be_visible()
    _flip(ui, exposed, on=True)
    expect(wes.locator("#details-panel")).to_contain_text("they never see its settings")
    ui.shot("embedded-switch")
    wes.keyboard.press("Escape")
    row = table(wes).locator("tr", has_text=exposed)
    expect(row.locator(".cx-embedded-badge")).to_be_visible()
    expect(table(wes).locator("tr", has_text=internal).locator(".cx-embedded-badge")).to_have_count(
        0
    )

    # Cleo builds in her portal: the picker offers the exposed connection only.
    cleo = other.page
    other.sign_in("cleo@acme.test")
    cleo.locator("#nav-portal-workflows").click()
    expect(cleo).to_have_url(other.app.url + "/portal/workflows")
    cleo.locator("#first-workflow").click()
    name = unique("Cleo's signup flow")
    cleo.locator("#workflow-name-input").fill(name)
    cleo.keyboard.press("Enter")
    expect(cleo.locator("#workflow-name")).to_have_text(name)
    expect(cleo.locator("#import-workflow")).to_have_count(0)
    _add_node(cleo, "Stripe · Create a customer", {"email": "cleo@example.test"})
    panel = cleo.locator("#node-panel")
    option = panel.locator(".cx-picker-option", has_text=exposed)
    expect(option).to_have_count(1)
    expect(panel).not_to_contain_text(internal)
    expect(panel).not_to_contain_text("Stripe (prod)")
    expect(panel.locator("#connect-new-account")).to_have_count(0)
    option.click()
    expect(panel.locator("#node-auth")).to_contain_text(f"Uses {exposed}")
    expect(panel.locator("#switch-all")).to_have_count(0)
    _close_panel(cleo)

    cleo.locator("#run-live").click()
    latest = cleo.locator("#latest-run")
    expect(latest).to_have_attribute("data-status", "succeeded", timeout=20_000)
    expect(latest.locator(".cx-step[data-status=succeeded]")).to_have_count(1)
    other.shot("portal-workflows")
    # She never received the credential, nor its masked tail.
    assert_nowhere(other, STRIPE)
    received = other.seen.text()
    for dots in ("\u2022" * 4, "\\u2022" * 4):
        assert dots + STRIPE[-4:] not in received

    # The workspace's Runs page shows the run, attributed to Cleo.
    ui.goto("/runs")
    run = wes.locator(".cx-run", has_text=name)
    expect(run).to_contain_text("cleo@acme.test")
    expect(run).to_have_attribute("data-status", "succeeded")

    # Withdrawn while her picker is open: it leaves at once, and the node says so.
    cleo.get_by_role("button", name="Open node Create a customer").click()
    expect(panel.locator(".cx-picker-option", has_text=exposed)).to_have_count(1)
    ui.goto("/integrations")
    expect(table(wes)).to_be_visible()
    _flip(ui, exposed, on=False)
    expect(panel.locator(".cx-picker-option", has_text=exposed)).to_have_count(0, timeout=2_000)
    expect(panel.locator("#node-unavailable")).to_contain_text("No longer available", timeout=2_000)
    other.shot("portal-node-unavailable")
    _close_panel(cleo)
    node = cleo.locator(".cx-node", has_text="Create a customer")
    expect(node).to_contain_text("No longer available")
