"""The builder in a real browser (F15–F17, F19, F22, F28–F30): a two-node workflow whose
node panels pick connections (only the right app and workspace are offered), a new
API-key connection and a new OAuth connection made from a node's panel and selected
there, a run against the stand-in provider that moves use counts, a broken OAuth
connection that parks the run and a reconnect that completes it with nobody pressing
Run again, switch-all, and export from one workspace and import into another."""

from __future__ import annotations

import json
import re
from datetime import datetime

from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, text

from connections_app.standin.app import DEMO_CREDENTIALS
from tests.e2e.conftest import UI
from tests.e2e.test_integrations import assert_nowhere, unique
from tests.standin_fixtures import StandIn

STRIPE = DEMO_CREDENTIALS["stripe"]["secret_key"]


def _db(ui: UI, sql: str, **params: object) -> list:
    engine = create_engine(ui.app.env["REFLEX_DB_URL"])
    try:
        with engine.begin() as db:
            result = db.execute(text(sql), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _add_node(page: Page, action_label: str, fields: dict[str, str]) -> None:
    page.locator("#add-node").click()
    page.locator("#node-action").click()
    page.get_by_role("option", name=action_label).click()
    for name, value in fields.items():
        page.locator(f"#add-param-{name}").fill(value)
    page.locator("#add-node-submit").click()
    expect(page.locator("#node-panel")).to_be_visible()  # it opens on the new node


def _close_panel(page: Page) -> None:
    page.locator("#node-panel").get_by_role("button", name="Close").click()
    expect(page.locator("#node-panel")).to_have_count(0)


def _node(page: Page, label: str):  # type: ignore[no-untyped-def]
    return page.locator(".cx-node", has_text=label)


def test_build_pick_run_park_resume_switch_export_import(ui: UI, standin: StandIn) -> None:
    page = ui.page
    ui.sign_in("wes@northstar.test")
    expect(page.locator("#connections-table")).to_be_visible()
    ui.goto("/builder")
    expect(page.locator("#workflow-name")).to_have_text("New customer onboarding")  # demo sample

    name = unique("E2E onboarding")
    page.locator("#new-workflow").click()
    page.locator("#workflow-name-input").fill(name)
    page.keyboard.press("Enter")
    expect(page.locator("#workflow-name")).to_have_text(name)

    # Node 1: Stripe. The picker offers this workspace's Stripe connections only.
    _add_node(page, "Stripe · Create a customer", {"email": "ada@example.test"})
    panel = page.locator("#node-panel")
    expect(panel.locator(".cx-picker-option").first).to_be_visible()
    offered = panel.locator(".cx-picker-option").evaluate_all("els => els.map(e => e.dataset.id)")
    rows = _db(
        ui,
        "SELECT c.id, c.app, w.slug FROM connections c JOIN workspaces w ON w.id = c.workspace_id",
    )
    where = {r[0]: (r[1], r[2]) for r in rows}
    assert offered and all(where[i] == ("stripe", "acme") for i in offered), offered
    expect(panel).not_to_contain_text("OpenAI")
    ui.shot("node-panel")

    # A new API-key connection from the panel is saved and selected on the node.
    api_label = unique("Stripe from panel")
    panel.locator("#connect-new-account").click()
    dialog = page.get_by_role("dialog", name="Connect a new account")
    expect(dialog).to_contain_text("selected on “Create a customer”")
    stable_key = dialog.locator("#add-stable_key")
    expect(stable_key).to_have_attribute("placeholder", "stripe-2")  # "stripe" is taken
    dialog.get_by_label("Label").fill(api_label)
    expect(stable_key).to_have_attribute("placeholder", re.compile(r"^stripe-from-panel-"))
    dialog.locator("#add-secret_key").fill(STRIPE)
    dialog.get_by_role("button", name="Save connection").click()
    expect(page.get_by_text(f"“{api_label}” added and selected on this node.")).to_be_visible()
    expect(panel.locator("#node-auth")).to_contain_text(f"Uses {api_label}")
    _close_panel(page)
    expect(_node(page, "Create a customer")).to_contain_text(api_label)

    # Node 2: Slack, with a new OAuth connection made in the panel's popup.
    _add_node(page, "Slack · Post a message", {"channel": "#sales", "text": "New customer"})
    expect(panel.locator("#picker-empty")).to_be_visible()  # acme has no Slack yet
    panel.locator("#connect-new-account").click()
    with page.expect_popup() as popup_info:
        page.locator("#oauth-connect").click()
    popup = popup_info.value
    popup.locator("#account").select_option("carol")
    popup.get_by_role("button", name="Allow").click()
    popup.wait_for_event("close", timeout=10_000)
    slack_label = "Slack (Carol's team)"
    expect(panel.locator("#node-auth")).to_contain_text(f"Uses {slack_label}")
    _close_panel(page)
    expect(_node(page, "Post a message")).to_contain_text(slack_label)

    # Run: both steps succeed against the stand-in, and use counts move.
    page.locator("#run-live").click()
    latest = page.locator("#latest-run")
    expect(latest).to_have_attribute("data-status", "succeeded", timeout=20_000)
    expect(latest.locator(".cx-step[data-status=succeeded]")).to_have_count(2)
    uses = dict(
        _db(
            ui,
            "SELECT label, use_count FROM connections WHERE label IN (:a, :b)",
            a=api_label,
            b=slack_label,
        )
    )
    assert uses == {api_label: 1, slack_label: 1}
    ui.shot("builder-run")

    # The provider refuses the refresh token; the access token is expired: the run parks.
    standin.control("PUT", "/oauth/slack/settings", {"token_mode": "invalid_grant"})
    standin.control("POST", "/oauth/slack/expire")
    _db(
        ui,
        "UPDATE connections SET token_expires_at = :past WHERE label = :label",
        past=datetime(2000, 1, 1),
        label=slack_label,
    )
    page.locator("#run-live").click()
    expect(latest).to_have_attribute("data-status", "waiting", timeout=20_000)
    expect(latest).to_contain_text(f"Waiting for “{slack_label}” to be reconnected")
    expect(page.locator("#reauth-banner")).to_be_visible()
    expect(_node(page, "Post a message")).to_contain_text("Error")
    ui.shot("builder-waiting")

    # Reconnect from the banner; the parked run completes without anyone pressing Run.
    standin.control("PUT", "/oauth/slack/settings", {"token_mode": "ok"})
    page.locator("#reauth-toggle").click()
    with page.expect_popup() as popup_info:
        page.get_by_role("link", name=f"Reconnect {slack_label}").click()
    popup = popup_info.value
    popup.locator("#account").select_option("carol")
    popup.get_by_role("button", name="Allow").click()
    popup.wait_for_event("close", timeout=10_000)
    expect(latest).to_have_attribute("data-status", "succeeded", timeout=20_000)
    expect(page.locator("#reauth-banner")).to_have_count(0)
    runs = _db(
        ui,
        "SELECT status FROM workflow_runs r JOIN workflows w ON w.id = r.workflow_id "
        "WHERE w.name = :n ORDER BY r.created_at",
        n=name,
    )
    assert [r[0] for r in runs] == ["succeeded", "succeeded"]
    page.get_by_role("link", name="All runs").click()
    expect(page.locator(".cx-run")).to_have_count(2)
    expect(page.locator(".cx-run").first).to_have_attribute("data-status", "succeeded")
    ui.shot("runs")
    ui.goto("/builder")
    page.locator(".cx-workflow-item", has_text=name).click()

    # Switch all: a second workflow uses the same key too; one action moves both nodes.
    other = unique("E2E second")
    page.locator("#new-workflow").click()
    page.locator("#workflow-name-input").fill(other)
    page.keyboard.press("Enter")
    expect(page.locator("#workflow-name")).to_have_text(other)
    _add_node(page, "Stripe · Create a customer", {"email": "bob@example.test"})
    panel.locator(".cx-picker-option", has_text=api_label).click()
    expect(panel.locator("#node-auth")).to_contain_text(f"Uses {api_label}")
    panel.locator("#switch-all").click()
    page.locator(".cx-switch-to[data-label='Stripe (prod)']").click()
    expect(
        page.get_by_text(f"Switched 2 node(s) in this workspace away from “{api_label}”")
    ).to_be_visible()
    expect(panel.locator("#node-auth")).to_contain_text("Uses Stripe (prod)")
    _close_panel(page)
    page.locator(".cx-workflow-item", has_text=name).click()
    expect(_node(page, "Create a customer")).to_contain_text("Stripe (prod)")

    # Export from Acme ...
    page.locator("#workflow-menu").click()
    with page.expect_download() as download_info:
        page.get_by_role("menuitem", name="Export JSON").click()
    document = download_info.value.path().read_text()
    exported = json.loads(document)
    assert [n["connection"] for n in exported["nodes"]] == ["stripe", "slack-carol-s-team"]
    ids = [r[0] for r in _db(ui, "SELECT id FROM connections")] + [
        r[0] for r in _db(ui, "SELECT id FROM workflow_nodes")
    ]
    assert not any(i in document for i in ids)

    # ... and import into Globex as Bea: Stripe binds by key, Slack is listed unbound.
    page.context.clear_cookies()
    ui.sign_in("bea@northstar.test")
    expect(page.locator("#connections-table")).to_be_visible()
    page.locator("#workspace-switcher").click()
    page.get_by_role("option", name="Globex").click()
    expect(page.locator("#workspace-switcher")).to_contain_text("Globex")
    ui.goto("/builder")
    page.get_by_role("button", name="Import").first.click()
    page.locator("#import-document").fill(document)
    page.locator("#import-submit").click()
    report = page.locator("#import-report")
    expect(report).to_contain_text("bound")
    expect(report.locator(".cx-import-line", has_text="Create a customer")).to_contain_text(
        "→ Stripe"
    )
    expect(report.locator(".cx-import-line", has_text="Post a message")).to_contain_text("unbound")
    ui.shot("import-report")
    page.locator("#import-done").click()
    expect(page.locator("#workflow-name")).to_have_text(name)
    expect(_node(page, "Create a customer")).to_contain_text("Stripe")
    expect(_node(page, "Post a message")).to_contain_text("No connection")
    globex_stripe = _db(
        ui,
        "SELECT n.connection_id, w.slug FROM workflow_nodes n JOIN workspaces w "
        "ON w.id = n.workspace_id JOIN workflows f ON f.id = n.workflow_id "
        "WHERE f.name = :n AND n.app = 'stripe'",
        n=name,
    )
    bound = dict((r[1], r[0]) for r in globex_stripe)
    own = _db(
        ui,
        "SELECT c.id FROM connections c JOIN workspaces w ON w.id = c.workspace_id "
        "WHERE w.slug = 'globex' AND c.stable_key = 'stripe'",
    )
    assert bound["globex"] == own[0][0] and bound["acme"] != bound["globex"]
    assert_nowhere(ui, STRIPE)
