"""Account connections and grants in a real browser (F9, F25, F26): Ada (account admin)
adds an account OpenAI key on the LLM Keys page, grants it to Acme with a $1.00 cap
and to Globex without one; Bea (builder in both) sees it in an OpenAI node's picker
marked "Granted by Northstar Agency"; Ada removes the Globex grant while Bea has
Globex's builder open on that picker, and the key leaves it within 2 seconds. In
between, Bea's runs in Acme spend until the cap: the next run is refused with the cap
message before anything reaches the provider, Ada's spend bar follows, and after she
raises the cap the next run works."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from connections_app.standin.app import DEMO_CREDENTIALS
from connections_app.standin.oauth import client_secret_for
from tests.e2e.conftest import UI
from tests.e2e.test_integrations import assert_nowhere, unique
from tests.standin_fixtures import StandIn

OPENAI = DEMO_CREDENTIALS["openai"]["api_key"]


def _in_workspace(page: Page, name: str) -> None:
    switcher = page.locator("#workspace-switcher")
    expect(switcher).to_be_visible()
    if name not in switcher.inner_text():
        switcher.click()
        page.get_by_role("option", name=name).click()
    expect(switcher).to_contain_text(name)


def _openai_node_picker(ui: UI, workflow: str):  # type: ignore[no-untyped-def]
    """A new workflow with one OpenAI node, its panel (and picker) open."""
    page = ui.page
    ui.goto("/builder")
    loaded = page.locator("#workflow-name").or_(
        page.get_by_role("heading", name="No workflows yet")
    )
    expect(loaded).to_be_visible()  # Globex may have none yet
    page.get_by_role("button", name="New workflow").first.click()
    page.locator("#workflow-name-input").fill(workflow)
    page.keyboard.press("Enter")
    expect(page.locator("#workflow-name")).to_have_text(workflow)
    page.locator("#add-node").click()
    page.locator("#node-action").click()
    page.get_by_role("option", name="OpenAI · Chat completion").click()
    page.locator("#add-param-model").fill("gpt-4o-mini")
    page.locator("#add-param-prompt").fill("Say hello")
    page.locator("#add-node-submit").click()
    panel = page.locator("#node-panel")
    expect(panel).to_be_visible()
    return panel


def _model_calls(standin: StandIn) -> int:
    return int(standin.control("GET", "/calls").json().get("openai:chat", 0))


def _run_once(ui: UI, standin: StandIn, *, expect_calls: int) -> None:
    """Run the open workflow live; it succeeds once the provider has had `expect_calls`
    calls in all (the latest-run card keeps the previous run's status until then)."""
    ui.page.locator("#run-live").click()
    deadline = time.monotonic() + 20
    while _model_calls(standin) < expect_calls:
        assert time.monotonic() < deadline, "the run never reached the provider"
        ui.page.wait_for_timeout(100)
    expect(ui.page.locator("#latest-run")).to_have_attribute(
        "data-status", "succeeded", timeout=20_000
    )


def test_grant_an_account_key_see_it_granted_and_remove_it_live(
    ui: UI, other: UI, standin: StandIn
) -> None:
    page = ui.page
    label = unique("OpenAI (agency)")

    # Bea is no account admin: no nav item, and the page says so with no data.
    other.sign_in("bea@northstar.test")
    expect(other.page.locator("#workspace-switcher")).to_be_visible()
    expect(other.page.locator("#nav-llm-keys")).to_have_count(0)
    expect(other.page.locator("#nav-account-connections")).to_have_count(0)
    other.goto("/llm-keys")
    expect(other.page.locator("#only-account-admins")).to_be_visible()
    expect(other.page.locator(".cx-account-card")).to_have_count(0)

    # Ada adds an account OpenAI key from the LLM Keys page (model providers only).
    ui.sign_in("ada@northstar.test")
    expect(page.locator("#workspace-switcher")).to_be_visible()
    page.locator("#nav-llm-keys").click()
    page.locator("#add-account-connection").first.click()
    dialog = page.get_by_role("dialog", name="Add account connection")
    expect(dialog.get_by_role("button", name="Stripe", exact=True)).to_have_count(0)
    dialog.get_by_role("button", name="OpenAI", exact=True).click()
    dialog.get_by_label("Label").fill(label)
    dialog.locator("#add-api_key").fill(OPENAI)
    dialog.get_by_role("button", name="Save connection").click()
    card = page.locator(".cx-account-card", has_text=label)
    expect(card).to_contain_text("Not granted to any workspace yet")
    expect(card).to_contain_text("••••" + OPENAI[-4:])

    # Grant it to Acme with a $1.00 cap, and to Globex without one.
    card.get_by_role("button", name=f"Grant {label} to a workspace").click()
    page.locator("#grant-workspace").select_option(label="Acme Corp")
    page.locator("#grant-cap").fill("1.00")
    page.locator("#grant-submit").click()
    acme_bar = card.get_by_role("progressbar", name="Spend this month for Acme Corp")
    expect(acme_bar).to_have_attribute("aria-valuenow", "0")
    expect(acme_bar).to_have_attribute("aria-valuetext", "$0.00 of $1.00")
    card.get_by_role("button", name=f"Grant {label} to a workspace").click()
    page.locator("#grant-workspace").select_option(label="Globex")
    page.locator("#grant-submit").click()
    globex_row = card.get_by_role("row").filter(has_text="Globex")
    expect(globex_row).to_contain_text("No cap")
    expect(globex_row).to_contain_text("no cap")
    expect(globex_row.get_by_role("progressbar")).to_have_count(0)
    ui.shot("llm-keys")

    # Bea in Acme: the key is in an OpenAI node's picker, granted by the account.
    _in_workspace(other.page, "Acme Corp")
    acme_workflow = unique("Summarize with the agency key")  # sorts after the demo's
    panel = _openai_node_picker(other, acme_workflow)
    option = panel.locator(".cx-picker-option", has_text=label)
    expect(option).to_contain_text("Granted by Northstar Agency")
    other.shot("picker-granted")
    option.click()
    expect(panel.locator("#node-auth")).to_contain_text(f"Uses {label}")
    panel.get_by_role("button", name="Close").click()
    expect(panel).to_have_count(0)

    # Runs spend until the cap: each answer reports 5,000,000 input tokens of
    # gpt-4o-mini ($0.15 per million) = $0.75; the bar on Ada's open page follows live.
    standin.control("PUT", "/usage/openai", {"input_tokens": 5_000_000, "output_tokens": 0})
    _run_once(other, standin, expect_calls=1)
    expect(acme_bar).to_have_attribute("aria-valuetext", "$0.75 of $1.00")
    _run_once(other, standin, expect_calls=2)  # admitted at $0.75: may cross the cap
    expect(acme_bar).to_have_attribute("aria-valuetext", "$1.50 of $1.00")
    # The next run is refused with the cap message, and nothing reaches the provider.
    other.page.locator("#run-live").click()
    latest = other.page.locator("#latest-run")
    expect(latest).to_have_attribute("data-status", "failed", timeout=20_000)
    expect(latest).to_contain_text(
        f"Monthly spend cap of $1.00 for Acme Corp on “{label}” reached ($1.50 used). "
        "An account admin can raise it on the LLM Keys page."
    )
    assert _model_calls(standin) == 2
    ui.shot("llm-keys-cap-reached")
    # Ada raises the cap to $5.00; the next run works.
    card.get_by_role("button", name="Change the cap for Acme Corp").click()
    page.locator("#cap-input").fill("5.00")
    page.locator("#cap-save").click()
    expect(acme_bar).to_have_attribute("aria-valuetext", "$1.50 of $5.00")
    _run_once(other, standin, expect_calls=3)
    expect(acme_bar).to_have_attribute("aria-valuetext", "$2.25 of $5.00")

    # Bea in Globex with the picker open; Ada removes Globex's grant: gone within 2 s.
    _in_workspace(other.page, "Globex")
    panel = _openai_node_picker(other, unique("Summarize in Globex"))
    option = panel.locator(".cx-picker-option", has_text=label)
    expect(option).to_contain_text("Granted by Northstar Agency")
    card.get_by_role("button", name="Remove the grant to Globex").click()
    page.get_by_role("button", name="Remove grant").click()
    expect(option).to_have_count(0, timeout=2_000)
    expect(card.get_by_role("row").filter(has_text="Globex")).to_have_count(0)
    expect(card).to_contain_text("Acme Corp")

    # Deleting the key first lists where it is used, in every workspace; then it is
    # gone from the account (and no later test meets it in Acme's lists).
    card.get_by_role("button", name="Delete").click()
    warning = page.get_by_role("alertdialog")
    expect(warning).to_contain_text(f"Acme Corp · {acme_workflow}")
    warning.locator("#delete-confirm").click()
    expect(page.get_by_text(f"Deleted “{label}”.")).to_be_visible()
    expect(card).to_have_count(0)

    assert_nowhere(ui, OPENAI)
    assert_nowhere(other, OPENAI)


def test_an_account_admin_signs_in_an_account_connection_and_reconnects_it(
    ui: UI, standin: StandIn
) -> None:
    """Account scope by sign-in (F26): Ada connects Slack on the Account connections
    screen through the popup; it belongs to the account (no "Granted by"), appears live,
    and its details offer Reconnect, which updates it in place."""
    page = ui.page
    ui.sign_in("ada@northstar.test")
    page.locator("#nav-account-connections").click()
    page.locator("#add-account-connection").first.click()
    dialog = page.get_by_role("dialog", name="Add account connection")
    dialog.get_by_placeholder("Search apps").fill("slack")
    dialog.get_by_role("button", name="Slack", exact=True).click()
    with page.expect_popup() as popup_info:
        page.locator("#oauth-connect").click()
    popup = popup_info.value
    popup.locator("#account").select_option("carol")
    popup.get_by_role("button", name="Allow").click()
    popup.wait_for_event("close", timeout=10_000)
    label = "Slack (Carol's team)"
    card = page.locator(".cx-account-card", has_text=label)
    expect(card).to_contain_text("Not granted to any workspace yet")
    assert "Granted by" not in card.inner_text()

    # Reconnect from its details: the same account again, the same connection.
    card.get_by_role("button", name="Details").click()
    reconnect = page.locator("#details-reconnect")
    expect(reconnect).to_be_visible()
    with page.expect_popup() as popup_info:
        reconnect.click()
    popup = popup_info.value
    popup.locator("#account").select_option("carol")
    popup.get_by_role("button", name="Allow").click()
    popup.wait_for_event("close", timeout=10_000)
    expect(page.get_by_text(f"Reconnected “{label}”.")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator(".cx-account-card", has_text=label)).to_have_count(1)

    # Delete it again (the next tests meet the account as it was).
    card.get_by_role("button", name="Delete").click()
    page.get_by_role("alertdialog").locator("#delete-confirm").click()
    expect(card).to_have_count(0)
    assert_nowhere(ui, client_secret_for("slack"))
