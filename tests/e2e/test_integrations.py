"""The Integrations screen in a real browser against the real app and the stand-in
provider: add, test, rotate, edit sharing, search/filter, delete, role limits, the
details panel and the audit log. Every flow ends by checking that the secrets it
typed never came back to the browser, into the app log or into Reflex's state store."""

from __future__ import annotations

import re
import secrets
import string
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.conftest import UI
from tests.integration.dbdump import leaks
from tests.redis_server import dump as redis_dump
from tests.standin_fixtures import StandIn


def stripe_key() -> str:
    alphabet = string.ascii_letters + string.digits
    return "sk_test_" + "".join(secrets.choice(alphabet) for _ in range(28))


def unique(label: str) -> str:
    return f"{label} {secrets.token_hex(3)}"


def assert_nowhere(ui: UI, *values: str) -> None:
    """None of `values` (raw, hex, base64) reached the browser, the log or `.states/`."""
    received = ui.seen.text()
    log = ui.app.log_text()
    states = "".join(
        p.read_bytes().decode("latin-1") for p in ui.app.states_dir.rglob("*") if p.is_file()
    )
    if ui.app.redis_url:  # with Redis, Reflex keeps the states there
        states += redis_dump(ui.app.redis_url)
    for value in values:
        assert not leaks(received, value), f"sent to the browser: {leaks(received, value)}"
        assert not leaks(log, value), "in the app log"
        assert not leaks(states, value), "in Reflex's state store"


def add_via_cli(ui: UI, label: str, key: str, sharing: str = "use") -> None:
    result = ui.app.admin(
        "connection",
        "add",
        "--account",
        "northstar",
        "--workspace",
        "acme",
        "--app",
        "stripe",
        "--label",
        label,
        "--sharing",
        sharing,
        stdin=key,
    )
    assert result.returncode == 0, result.stderr


def open_menu(page: Page, label: str) -> None:
    page.get_by_role("button", name=f"Actions for {label}").click()


def table(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("#connections-table")


def test_add_an_api_key_connection_test_it_and_save(ui: UI, standin: StandIn) -> None:
    good, wrong = stripe_key(), stripe_key()
    standin.control("PUT", "/credentials/stripe", {"secret_key": good})
    label = unique("Stripe EU")
    ui.sign_in("wes@northstar.test")
    page = ui.page
    page.get_by_role("button", name="Add connection").first.click()
    page.get_by_placeholder("Search apps").fill("strip")
    page.get_by_role("button", name="Stripe", exact=True).click()
    page.get_by_label("Label").fill(label)
    expect(page.locator("#add-stable_key")).to_have_attribute(
        "placeholder", re.compile(r"^stripe-eu-")
    )

    page.locator("#add-secret_key").fill(wrong)
    page.get_by_role("button", name="Test", exact=True).click()
    expect(page.locator("#add-test-result")).to_contain_text("rejected the credentials")

    page.locator("#add-secret_key").fill(good)
    page.get_by_role("button", name="Test", exact=True).click()
    expect(page.locator("#add-test-result")).to_contain_text("Credentials are valid")
    ui.shot("add-form")

    page.get_by_role("button", name="Save connection").click()
    row = table(page).get_by_role("row").filter(has_text=label)
    expect(row).to_contain_text("••••" + good[-4:])
    expect(row).to_contain_text("Active")
    assert any(good in frame for frame in ui.seen.sent), "the form submit was not recorded"
    assert_nowhere(ui, good, wrong)


def test_duplicate_label_is_refused_with_a_clear_message(ui: UI) -> None:
    ui.sign_in("wes@northstar.test")
    page = ui.page
    page.get_by_role("button", name="Add connection").first.click()
    page.get_by_role("button", name="Stripe", exact=True).click()
    page.get_by_label("Label").fill("stripe (PROD)")  # same label, other case
    key = stripe_key()
    page.locator("#add-secret_key").fill(key)
    page.get_by_role("button", name="Save connection").click()
    expect(page.get_by_role("alert")).to_contain_text("already exists")
    expect(page.get_by_role("dialog")).to_be_visible()
    assert_nowhere(ui, key)


def test_rotation_takes_effect_for_the_next_request(ui: UI, standin: StandIn) -> None:
    old, new = stripe_key(), stripe_key()
    label = unique("Stripe rotate")
    add_via_cli(ui, label, old)
    standin.control("PUT", "/credentials/stripe", {"secret_key": new})
    ui.sign_in("wes@northstar.test")
    page = ui.page
    page.get_by_role("link", name=label).click()
    panel = page.locator("#details-panel")
    panel.get_by_role("button", name="Test connection").click()
    expect(panel.locator("#details-test-result")).to_contain_text("rejected")

    panel.get_by_role("button", name="Rotate").click()
    page.locator("#rotate-secret_key").fill(new)
    page.locator("#rotate-save").click()
    expect(page.get_by_text("The old one is gone")).to_be_visible()
    panel.get_by_role("button", name="Test connection").click()
    expect(panel.locator("#details-test-result")).to_contain_text("valid")
    expect(panel).to_contain_text("••••" + new[-4:])
    expect(panel.locator("#connection-history")).to_contain_text("Credential rotated")
    assert_nowhere(ui, old, new)


def test_edit_sharing_then_search_and_filter(ui: UI) -> None:
    label = unique("Stripe share")
    add_via_cli(ui, label, stripe_key())
    ui.sign_in("wes@northstar.test")
    page = ui.page
    open_menu(page, label)
    page.get_by_role("menuitem", name="Edit").click()
    page.locator("#edit-sharing").click()
    page.get_by_role("option", name="Team · manage").click()
    page.locator("#edit-save").click()
    row = table(page).get_by_role("row").filter(has_text=label)
    expect(row).to_contain_text("Team · manage")

    page.get_by_label("Search connections").fill("twilio")
    expect(table(page)).to_contain_text("Twilio SMS")
    expect(table(page)).not_to_contain_text("Stripe (prod)")
    page.get_by_label("Search connections").fill("")
    expect(table(page)).to_contain_text("Stripe (prod)")

    page.locator("#filter-kind").click()
    page.get_by_role("option", name="Basic auth").click()
    expect(table(page)).to_contain_text("Twilio SMS")
    expect(table(page)).not_to_contain_text("Stripe (prod)")
    page.locator("#filter-status").click()
    page.get_by_role("option", name="Revoked").click()
    expect(page.get_by_text("No matching connections")).to_be_visible()
    page.get_by_role("button", name="Clear filters").click()
    expect(table(page)).to_contain_text("Stripe (prod)")


def test_delete_asks_first_and_says_what_breaks(ui: UI) -> None:
    label = unique("Stripe delete")
    add_via_cli(ui, label, stripe_key())
    ui.sign_in("wes@northstar.test")
    page = ui.page
    open_menu(page, label)
    page.get_by_role("menuitem", name="Delete").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("No workflow uses this connection")
    ui.shot("delete-dialog")
    page.locator("#delete-cancel").click()
    expect(dialog).to_have_count(0)
    expect(table(page)).to_contain_text(label)

    open_menu(page, label)
    page.get_by_role("menuitem", name="Delete").click()
    page.locator("#delete-confirm").click()
    expect(page.get_by_text(f"Deleted “{label}”.")).to_be_visible()
    expect(table(page)).not_to_contain_text(label)


def test_viewer_and_builder_see_only_what_their_level_allows(ui: UI) -> None:
    page = ui.page
    ui.sign_in("vic@northstar.test")
    expect(table(page)).to_contain_text("Stripe (prod)")
    expect(page.get_by_role("button", name="Add connection")).to_have_count(0)
    open_menu(page, "Stripe (prod)")
    expect(page.get_by_role("menuitem", name="Details")).to_be_visible()
    for forbidden in ("Test connection", "Edit", "Rotate credential", "Delete"):
        expect(page.get_by_role("menuitem", name=forbidden)).to_have_count(0)
    page.keyboard.press("Escape")
    page.get_by_role("link", name="Stripe (prod)").click()
    expect(page.locator("#details-panel")).to_contain_text("does not include this connection")
    page.goto(ui.app.url + "/sign-in")

    page.context.clear_cookies()
    ui.sign_in("bea@northstar.test")
    page.locator("#workspace-switcher").click()
    page.get_by_role("option", name="Acme Corp").click()
    expect(table(page)).to_contain_text("Stripe (prod)")
    open_menu(page, "Stripe (prod)")  # shared at "use"
    expect(page.get_by_role("menuitem", name="Test connection")).to_be_visible()
    expect(page.get_by_role("menuitem", name="Edit")).to_have_count(0)
    page.keyboard.press("Escape")
    open_menu(page, "Twilio SMS")  # shared at "manage"
    expect(page.get_by_role("menuitem", name="Rotate credential")).to_be_visible()
    expect(page.get_by_role("menuitem", name="Delete")).to_be_visible()
    page.keyboard.press("Escape")
    page.get_by_role("link", name="Freshdesk support").click()  # shared at "view"
    expect(page.locator("#details-panel")).to_contain_text("northstar")
    expect(page.get_by_role("link", name="Audit log")).to_have_count(0)


def test_details_panel_health_and_audit_log(ui: UI) -> None:
    ui.sign_in("wes@northstar.test")
    page = ui.page
    page.get_by_role("link", name="Stripe (prod)").click()
    panel = page.locator("#details-panel")
    panel.get_by_role("button", name="Test connection").click()
    expect(panel.locator("#details-test-result")).to_contain_text("valid")
    expect(panel).to_contain_text("Failures in the last 24 h")
    expect(panel.locator("#connection-history")).to_contain_text("Tested")
    panel.evaluate("el => el.scrollTo(0, 0)")
    ui.shot("details-panel")
    page.keyboard.press("Escape")

    page.get_by_role("link", name="Audit log").click()
    audit = page.locator("#audit-table")
    expect(audit).to_contain_text("Tested")
    page.locator("#audit-action").click()
    page.get_by_role("option", name="Created", exact=True).click()
    expect(audit).not_to_contain_text("Tested")
    page.get_by_label("Filter by actor").fill("nobody-at-all")
    expect(page.get_by_text("No matching events")).to_be_visible()


def test_list_screenshot(ui: UI) -> None:
    ui.sign_in("wes@northstar.test")
    expect(table(ui.page)).to_contain_text("Stripe (prod)")
    path = ui.shot("integrations-list")
    assert Path(path).stat().st_size > 10_000
