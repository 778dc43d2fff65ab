"""Screens tell the truth (issue 11, item 5) in a real browser: a key that failed its test
is saved only after asking, and then as Error; a rotate clears the old failure; a
test-mode run uses the test credential where one is set and says what it skipped;
Run is refused, naming the node, while a node's connection is missing."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from connections_app.standin.app import DEMO_CREDENTIALS
from tests.e2e.conftest import UI
from tests.e2e.test_builder import _add_node, _close_panel, _db, _node
from tests.e2e.test_integrations import add_via_cli, assert_nowhere, stripe_key, table, unique
from tests.standin_fixtures import StandIn

STRIPE = DEMO_CREDENTIALS["stripe"]["secret_key"]
STRIPE_TEST = DEMO_CREDENTIALS["stripe:test"]["secret_key"]
REJECTED = "Stripe rejected the credentials (HTTP 401)"


def test_saving_a_key_that_failed_its_test_asks_and_saves_it_as_error(
    ui: UI, standin: StandIn
) -> None:
    wrong, label = stripe_key(), unique("Stripe failed")
    ui.sign_in("wes@northstar.test")
    page = ui.page
    page.get_by_role("button", name="Add connection").first.click()
    page.get_by_role("button", name="Stripe", exact=True).click()
    page.get_by_label("Label").fill(label)
    page.locator("#add-secret_key").fill(wrong)
    page.get_by_role("button", name="Test", exact=True).click()
    expect(page.locator("#add-test-result")).to_contain_text(REJECTED)

    page.get_by_role("button", name="Save connection").click()
    question = page.locator("#add-question")
    expect(question).to_have_text(f"This key failed its test: {REJECTED}. Save anyway?")
    expect(page.locator("#add-test-result")).to_have_count(0)  # said once, in the question
    page.locator("#add-question-no").click()
    expect(question).to_have_count(0)
    expect(page.get_by_role("dialog")).to_be_visible()  # nothing saved, the form stays
    assert _db(ui, "SELECT id FROM connections WHERE label = :l", l=label) == []

    page.get_by_role("button", name="Save connection").click()
    page.locator("#add-save-anyway").click()
    row = table(page).get_by_role("row").filter(has_text=label)
    expect(row).to_contain_text("Error")
    page.get_by_role("link", name=label).click()
    panel = page.locator("#details-panel")
    expect(panel.locator("#details-test-result")).to_have_text(REJECTED + ".")
    expect(panel).not_to_contain_text("Never tested")
    assert panel.inner_text().count(REJECTED) == 1  # one message per failure
    assert_nowhere(ui, wrong)


def _details(ui: UI, label: str, key: str):  # type: ignore[no-untyped-def]
    """A new Stripe connection (by the CLI), its details open as Wes."""
    add_via_cli(ui, label, key)
    ui.sign_in("wes@northstar.test")
    page = ui.page
    page.get_by_role("link", name=label).click()
    return page, page.locator("#details-panel")


def test_a_rotate_clears_the_old_failure(ui: UI, standin: StandIn) -> None:
    old, new = stripe_key(), stripe_key()
    standin.control("PUT", "/credentials/stripe", {"secret_key": new})
    page, panel = _details(ui, unique("Stripe clears"), old)
    panel.get_by_role("button", name="Test connection").click()
    expect(panel.locator("#details-test-result")).to_contain_text(REJECTED)
    assert panel.inner_text().count(REJECTED) == 1
    expect(page.get_by_text(REJECTED)).to_have_count(1)  # no toast repeating it

    panel.get_by_role("button", name="Rotate").click()
    page.locator("#rotate-secret_key").fill(new)
    page.locator("#rotate-save").click()
    expect(page.get_by_text("The old one is gone")).to_be_visible()
    expect(panel).to_contain_text("••••" + new[-4:])
    expect(panel.locator("#details-test-result")).to_have_count(0)  # no stale failure
    expect(panel).not_to_contain_text(REJECTED)
    assert_nowhere(ui, old, new)


def _workflow(page: Page, name: str) -> None:
    page.locator("#new-workflow").click()
    page.locator("#workflow-name-input").fill(name)
    page.keyboard.press("Enter")
    expect(page.locator("#workflow-name")).to_have_text(name)


def _stripe_node(page: Page, email: str, connection: str | None) -> None:
    _add_node(page, "Stripe · Create a customer", {"email": email})
    if connection is not None:
        panel = page.locator("#node-panel")
        panel.locator("#picker-search").fill(connection)  # the picker pages; find it
        panel.locator(".cx-picker-option", has_text=connection).click()
        expect(panel.locator("#node-auth")).to_contain_text(f"Uses {connection}")
    _close_panel(page)


def _details_without_test_credential(ui: UI, label: str):  # type: ignore[no-untyped-def]
    page, panel = _details(ui, label, STRIPE)
    expect(panel.locator("#details-test-tail")).to_have_text("none")
    return page, panel


def test_a_test_mode_run_uses_test_credentials_and_says_what_it_skipped(
    ui: UI, standin: StandIn
) -> None:
    with_test, live_only = unique("Stripe sandbox"), unique("Stripe live only")
    add_via_cli(ui, live_only, STRIPE)
    # A manager sets the test credential (F28) in Rotate; only its tail is shown back.
    page, panel = _details_without_test_credential(ui, with_test)
    panel.get_by_role("button", name="Rotate").click()
    page.locator("#rotate-purpose").get_by_role("radio", name="Test credential").click()
    page.locator("#rotate-secret_key").fill(STRIPE_TEST)
    page.locator("#rotate-save").click()
    expect(page.get_by_text("test-mode runs use it")).to_be_visible()
    expect(panel.locator("#details-test-tail")).to_have_text("••••" + STRIPE_TEST[-4:])
    page.keyboard.press("Escape")

    ui.goto("/builder")
    _workflow(page, unique("E2E test mode"))
    _stripe_node(page, "t@example.test", with_test)
    _stripe_node(page, "u@example.test", live_only)
    before = standin.control("GET", "/calls").json()
    page.locator("#run-test").click()
    latest = page.locator("#latest-run")
    expect(latest).to_have_attribute("data-status", "succeeded", timeout=20_000)
    expect(latest.locator(".cx-step[data-status=succeeded]")).to_have_count(1)
    expect(latest.locator(".cx-step[data-status=skipped]")).to_contain_text(
        f"“{live_only}” has no test credentials"
    )
    expect(latest).to_contain_text("1 succeeded, 1 skipped")
    expect(latest).to_contain_text("1 of 2 steps skipped.")
    after = standin.control("GET", "/calls").json()
    test_calls = "stripe:create_customer:test"
    assert after.get(test_calls, 0) == before.get(test_calls, 0) + 1
    assert after.get("stripe:create_customer:live") == before.get("stripe:create_customer:live")
    assert_nowhere(ui, STRIPE_TEST)


def test_run_is_refused_naming_the_node_whose_connection_is_missing(
    ui: UI, standin: StandIn
) -> None:
    doomed = unique("Stripe doomed")
    add_via_cli(ui, doomed, STRIPE)
    ui.sign_in("wes@northstar.test")
    page = ui.page
    expect(page.locator("#connections-table")).to_be_visible()
    ui.goto("/builder")
    _workflow(page, unique("E2E refused"))
    _stripe_node(page, "a@example.test", doomed)
    _db(
        ui,
        "DELETE FROM connection_secrets WHERE connection_id IN "
        "(SELECT id FROM connections WHERE label = :l)",
        l=doomed,
    )
    _db(ui, "DELETE FROM connections WHERE label = :l", l=doomed)  # gone behind our back
    runs_before = _db(ui, "SELECT count(*) FROM workflow_runs")[0][0]
    page.locator("#run-live").click()
    expect(
        page.get_by_text(
            "Cannot run: this node has no usable connection: "
            "1. “Create a customer” (connection missing)."
        )
    ).to_be_visible()
    expect(_node(page, "Create a customer")).to_be_visible()
    assert _db(ui, "SELECT count(*) FROM workflow_runs")[0][0] == runs_before


def test_edit_sets_a_test_credential_shown_only_as_a_tail(ui: UI, standin: StandIn) -> None:
    page, panel = _details_without_test_credential(ui, unique("Stripe edit test"))
    panel.get_by_role("button", name="Edit").click()
    page.locator("#edit-test-creds").click()
    page.locator("#edit-test-secret_key").fill(STRIPE_TEST)
    page.locator("#edit-save").click()
    expect(panel.locator("#details-test-tail")).to_have_text("••••" + STRIPE_TEST[-4:])
    expect(panel.locator("#connection-history")).to_contain_text("changed test credentials")
    assert_nowhere(ui, STRIPE_TEST)
