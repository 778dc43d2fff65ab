"""OAuth in a real browser: connect through the popup, connect the same account again,
deny at consent, revoke. The stand-in provider's tokens must never reach the
browser (websocket frames and HTTP bodies, popup included), the log or `.states/`."""

from __future__ import annotations

from datetime import datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, text

from connections_app.standin.oauth import client_secret_for
from connections_app.standin.overrides import OAUTH_CATALOG_APPS
from tests.e2e.conftest import ARTIFACTS, UI
from tests.e2e.test_integrations import assert_nowhere, table
from tests.standin_fixtures import StandIn


def _open_slack_form(page: Page) -> None:
    page.get_by_role("button", name="Add connection").click()
    page.get_by_role("dialog").get_by_placeholder("Search apps").fill("slack")
    page.get_by_role("button", name="Slack", exact=True).click()
    expect(page.locator("#oauth-connect")).to_be_visible()


def _consent(page: Page, *, decision: str, account: str = "alice") -> Page:
    with page.expect_popup() as popup_info:
        page.locator("#oauth-connect").click()
    popup = popup_info.value
    expect(popup.get_by_text("asks to access your account")).to_be_visible()
    popup.locator("#account").select_option(account)
    popup.get_by_role("button", name=decision).click()
    return popup


def connect_slack(page: Page, account: str = "alice") -> str:
    """Connect Slack through the popup as `account`; the new connection's label."""
    _open_slack_form(page)
    _consent(page, decision="Allow", account=account).wait_for_event("close", timeout=10_000)
    label = f"Slack ({account.capitalize()}'s team)"
    expect(table(page)).to_contain_text(label)
    return label


def test_connect_reconnect_and_deny(ui: UI, standin: StandIn) -> None:
    page = ui.page
    ui.sign_in("wes@northstar.test")
    expect(table(page)).to_be_visible()

    _open_slack_form(page)
    ui.shot("add-oauth")
    popup = _consent(page, decision="Allow")
    expect(popup.get_by_role("status")).to_contain_text("Connected")
    popup.wait_for_event("close", timeout=10_000)
    expect(page.get_by_text("Connected “Slack (Alice's team)”")).to_be_visible()
    expect(table(page)).to_contain_text("Slack (Alice's team)")
    ui.shot("oauth-connected")

    # The same external account again updates the connection instead of adding one.
    _open_slack_form(page)
    _consent(page, decision="Allow").wait_for_event("close", timeout=10_000)
    expect(page.get_by_text("Reconnected “Slack (Alice's team)”")).to_be_visible()
    expect(table(page).get_by_role("link", name="Slack (Alice's team)", exact=True)).to_have_count(
        1
    )

    # Deny: a clear message in the popup and the opener; nothing is created.
    _open_slack_form(page)
    popup = _consent(page, decision="Deny", account="bob")
    expect(popup.get_by_role("status")).to_contain_text("You declined access at Slack")
    expect(page.get_by_text("You declined access at Slack").first).to_be_visible()
    page.keyboard.press("Escape")
    expect(table(page)).not_to_contain_text("Bob's team")

    issued = standin.control("GET", "/oauth/issued").json()
    assert issued, "the provider issued tokens"
    client_secrets = [client_secret_for(app) for app in OAUTH_CATALOG_APPS]
    assert_nowhere(ui, *issued, *client_secrets)


def test_revoke_tells_the_provider(ui: UI, standin: StandIn) -> None:
    page = ui.page
    ui.sign_in("wes@northstar.test")
    _open_slack_form(page)
    _consent(page, decision="Allow", account="bob").wait_for_event("close", timeout=10_000)
    expect(table(page)).to_contain_text("Slack (Bob's team)")
    table(page).get_by_role("link", name="Slack (Bob's team)").click()
    panel = page.locator("#details-panel")
    panel.locator("#details-revoke").click()
    page.locator("#revoke-confirm").click()
    expect(page.get_by_text("Revoked. The provider confirmed")).to_be_visible()
    expect(panel).to_contain_text("Revoked")
    ledger = standin.control("GET", "/oauth/ledger").json()
    assert [r for r in ledger["revocations"] if r["app"] == "slack"]


def test_banner_appears_live_in_another_tab_and_reconnect_clears_it(
    ui: UI, standin: StandIn
) -> None:
    page = ui.page
    ui.sign_in("wes@northstar.test")
    label = connect_slack(page)

    other = page.context.new_page()  # an already-open second tab, never reloaded below
    other.goto(ui.app.url + "/integrations")
    expect(other.locator("#connections-table")).to_contain_text(label)
    expect(other.locator("#reauth-banner")).to_have_count(0)

    standin.control("PUT", "/oauth/slack/settings", {"token_mode": "invalid_grant"})
    table(page).get_by_role("link", name=label, exact=True).click()
    page.locator("#details-refresh").click()
    expect(page.get_by_text("Reconnect to authorize it again")).to_be_visible()
    expect(other.locator("#reauth-banner")).to_contain_text(
        "A connection needs to be reauthorized", timeout=5_000
    )
    expect(page.locator("#reauth-banner")).to_be_visible()

    standin.control("PUT", "/oauth/slack/settings", {"token_mode": "ok"})
    other.locator("#reauth-toggle").click()
    expect(other.get_by_role("link", name=f"Reconnect {label}")).to_be_visible()
    other.wait_for_timeout(300)
    other.screenshot(path=str(ARTIFACTS / "reauth-banner.png"), full_page=True)
    with other.expect_popup() as popup_info:
        other.get_by_role("link", name=f"Reconnect {label}").click()
    popup = popup_info.value
    popup.locator("#account").select_option("alice")
    popup.get_by_role("button", name="Allow").click()
    popup.wait_for_event("close", timeout=10_000)
    expect(other.locator("#reauth-banner")).to_have_count(0, timeout=5_000)
    expect(page.locator("#reauth-banner")).to_have_count(0, timeout=5_000)
    other.close()


def test_the_background_refresher_in_another_process_raises_the_banner(
    ui: UI, standin: StandIn
) -> None:
    """F20 + F21 across processes: `connections-admin refresher` hits invalid_grant and
    every open tab (on any backend worker) shows the banner without reload."""
    if not ui.app.redis_url:
        pytest.skip("needs Redis: the CLI process reaches the web workers over its pub/sub")
    page = ui.page
    ui.sign_in("wes@northstar.test")
    _open_slack_form(page)
    _consent(page, decision="Allow", account="alice").wait_for_event("close", timeout=10_000)
    label = "Slack (Alice's team)"
    expect(table(page)).to_contain_text(label)
    expect(page.locator("#reauth-banner")).to_have_count(0)
    other = page.context.browser.new_context().new_page()  # another person's browser
    other.goto(ui.app.url + "/sign-in")
    other.get_by_label("Email").fill("wes@northstar.test")
    other.get_by_label("Password").fill("connections-demo")
    other.get_by_role("button", name="Sign in").click()
    expect(other.locator("#connections-table")).to_contain_text(label)

    standin.control("PUT", "/oauth/slack/settings", {"token_mode": "invalid_grant"})
    engine = create_engine(ui.app.env["REFLEX_DB_URL"])
    with engine.begin() as db:
        db.execute(
            text("UPDATE connections SET next_refresh_at = :due WHERE label = :label"),
            {"due": datetime(2000, 1, 1), "label": label},  # long due
        )
    engine.dispose()
    import redis

    assert redis.Redis.from_url(ui.app.redis_url).dbsize() > 0, "Reflex keeps its state in Redis"
    result = ui.app.admin("refresher", "--once")
    assert result.returncode == 0, result.stderr
    for tab in (page, other):
        expect(tab.locator("#reauth-banner")).to_contain_text(
            "A connection needs to be reauthorized", timeout=5_000
        )
    standin.control("PUT", "/oauth/slack/settings", {"token_mode": "ok"})
    other.context.close()
