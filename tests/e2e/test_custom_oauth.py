"""Custom OAuth 2.0 in a real browser, against the stand-in provider on loopback: Ada
(account admin) registers a custom provider on the OAuth apps page; Wes connects in
Acme through the popup, connects the same account again (one connection, updated),
connects another account (a second connection named after it), refreshes twice
(rotating refresh tokens), revokes (the provider is told), is refused on deny with
the provider's words; a Custom HTTP request step calls userinfo with the token.
No token and no client secret reaches either browser, the log or `.states/`."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from connections_app.standin.oauth import client_id_for, client_secret_for
from tests.e2e.conftest import UI
from tests.e2e.test_integrations import assert_nowhere, table, unique
from tests.standin_fixtures import StandIn

APP = "custom_oauth2"


def _register_provider(ui: UI, standin: StandIn, name: str) -> None:
    """Ada adds the provider by hand (authorize, token, revocation, userinfo)."""
    page = ui.page
    ui.goto("/oauth-apps")
    expect(page.get_by_role("heading", name="OAuth apps", exact=True)).to_be_visible()
    page.locator("#oa-add").click()
    dialog = page.get_by_role("dialog", name="Add an OAuth app")
    expect(dialog.locator("#oa-app")).to_have_value(APP)
    base = f"{standin.url}/oauth/{APP}"
    for field, value in {
        "name": name,
        "authorize_url": f"{base}/authorize",
        "token_url": f"{base}/token",
        "revocation_url": f"{base}/revoke",
        "userinfo_url": f"{base}/userinfo",
        "identity_field": "id",
        "name_field": "name",
        "api_base_url": base,
        "client_id": client_id_for(APP),
        "scopes": "read",
    }.items():
        dialog.locator(f"#oa-{field}").fill(value)
    dialog.locator("#oa-client_secret").fill(client_secret_for(APP))
    ui.shot("oauth-app-editor")
    dialog.locator("#oa-save").click()
    expect(page.get_by_text(f"“{name}” saved.")).to_be_visible()
    row = page.locator("#oauth-apps-table").get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("••••" + client_secret_for(APP)[-4:])
    expect(row).to_contain_text("not used yet")
    ui.shot("oauth-apps")


def _open_custom(page: Page, provider: str) -> None:
    page.get_by_role("button", name="Add connection").click()
    page.get_by_role("dialog").get_by_placeholder("Search apps").fill("custom oauth")
    page.get_by_role("button", name="Custom OAuth 2.0", exact=True).click()
    page.locator("#add-provider").select_option(label=provider)
    expect(page.locator("#oauth-connect")).to_be_visible()


def _consent(page: Page, button: str, *, decision: str, account: str) -> Page:
    with page.expect_popup() as popup_info:
        page.locator(button).click()
    popup = popup_info.value
    popup.locator("#account").select_option(account)
    popup.get_by_role("button", name=decision).click()
    return popup


def _connect(page: Page, provider: str, account: str, *, another: bool = False) -> None:
    _open_custom(page, provider)
    button = "#oauth-connect-another" if another else "#oauth-connect"
    _consent(page, button, decision="Allow", account=account).wait_for_event(
        "close", timeout=10_000
    )


def test_custom_provider_registered_connected_refreshed_used_and_revoked(
    ui: UI, other: UI, standin: StandIn
) -> None:
    provider = unique("Standin ID")
    ui.sign_in("ada@northstar.test")
    expect(ui.page.locator("#nav-oauth-apps")).to_be_visible()
    _register_provider(ui, standin, provider)

    page = other.page
    other.sign_in("wes@northstar.test")
    expect(table(page)).to_be_visible()
    expect(page.locator("#nav-oauth-apps")).to_have_count(0)  # not an account admin
    _open_custom(page, provider)
    other.shot("add-custom-oauth")
    page.keyboard.press("Escape")

    alice = f"{provider} (Alice)"
    _connect(page, provider, "alice")
    expect(page.get_by_text(f"Connected “{alice}”")).to_be_visible()
    expect(table(page)).to_contain_text(alice)

    # The same account again: the connection is updated, not duplicated.
    _connect(page, provider, "alice")
    expect(page.get_by_text(f"Reconnected “{alice}”")).to_be_visible()
    expect(table(page).get_by_role("link", name=alice, exact=True)).to_have_count(1)
    expect(table(page)).not_to_contain_text(f"{alice} (2)")

    # Another account: a second connection, named after it.
    bob = f"{provider} (Bob)"
    _connect(page, provider, "bob", another=True)
    expect(table(page)).to_contain_text(bob)

    # Refresh now twice: the stand-in rotates the refresh token each time.
    table(page).get_by_role("link", name=alice, exact=True).click()
    panel = page.locator("#details-panel")
    for _ in range(2):
        panel.locator("#details-refresh").click()
        expect(page.get_by_text("Token refreshed.").last).to_be_visible()
        page.wait_for_timeout(300)
    page.keyboard.press("Escape")

    # A Custom HTTP request step calls userinfo with Alice's token.
    other.goto("/builder")
    page.locator("#new-workflow").click()
    page.locator("#workflow-name-input").fill(unique("Who am I"))
    page.keyboard.press("Enter")
    page.locator("#add-node").click()
    page.locator("#node-action").click()
    page.get_by_role("option", name="Custom OAuth 2.0 · Custom HTTP request").click()
    page.locator("#add-param-method").select_option("GET")
    page.locator("#add-param-path").fill("/userinfo")
    page.locator("#add-node-submit").click()
    node_panel = page.locator("#node-panel")
    expect(node_panel).to_be_visible()
    node_panel.locator(".cx-picker-option", has_text=alice).click()
    expect(node_panel.locator("#node-auth")).to_contain_text(f"Uses {alice}")
    other.shot("node-panel-http-request")
    node_panel.get_by_role("button", name="Close").click()
    page.locator("#run-live").click()
    latest = page.locator("#latest-run")
    expect(latest).to_have_attribute("data-status", "succeeded", timeout=20_000)
    expect(latest).to_contain_text("U-alice")

    # Revoke Bob's: the provider is told.
    other.goto("/integrations")
    table(page).get_by_role("link", name=bob, exact=True).click()
    page.locator("#details-panel").locator("#details-revoke").click()
    page.locator("#revoke-confirm").click()
    expect(page.get_by_text("Revoked. The provider confirmed")).to_be_visible()
    ledger = standin.control("GET", "/oauth/ledger").json()
    assert [r for r in ledger["revocations"] if r["app"] == APP]
    page.keyboard.press("Escape")

    # Deny: the message says so, nothing is created.
    _open_custom(page, provider)
    popup = _consent(page, "#oauth-connect", decision="Deny", account="carol")
    expect(popup.get_by_role("status")).to_contain_text("declined")
    page.keyboard.press("Escape")
    expect(table(page)).not_to_contain_text(f"{provider} (Carol)")

    # Ada's list now says which connections use the provider; delete is refused.
    ui.goto("/oauth-apps")
    row = ui.page.locator("#oauth-apps-table").get_by_role("row").filter(has_text=provider)
    expect(row).to_contain_text("connection")
    row.get_by_role("button", name=f"Delete {provider}").click()
    expect(ui.page.get_by_role("alertdialog")).to_contain_text(alice)
    ui.shot("oauth-app-delete")
    ui.page.locator("#oa-delete-confirm").click()
    expect(ui.page.get_by_role("alertdialog")).to_contain_text("Revoke or delete them first")
    ui.page.locator("#oa-delete-cancel").click()

    issued = standin.control("GET", "/oauth/issued").json()
    assert issued, "the provider issued tokens"
    assert_nowhere(ui, *issued, client_secret_for(APP))
    assert_nowhere(other, *issued, client_secret_for(APP))
