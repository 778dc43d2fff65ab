"""Custom OAuth 2.0 in a real browser, against the stand-in's OpenID Connect mode on
loopback: Ada (account admin) adds a provider on the OAuth apps page by its issuer URL
(Discover), with a client secret holding `+`, `%`, `:` and `/`; Wes connects in Acme
through the popup, connects the same account again (one connection, updated),
connects another account (a second connection named after it), refreshes twice
(rotating refresh tokens), uses it in a Custom HTTP request step that calls userinfo,
revokes (the provider reports the token inactive), is refused on a wrong `iss` and
shown the provider's description on deny. No token and no client secret reaches
either browser, the log or `.states/`."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from urllib.parse import quote_plus

import httpx
from playwright.sync_api import Page, expect

from connections_app.standin.oauth import OIDC_CLIENT_ID, OIDC_CLIENT_SECRET
from tests.e2e.conftest import ARTIFACTS, UI
from tests.e2e.test_integrations import assert_nowhere, table, unique
from tests.standin_fixtures import StandIn

SCOPES = "openid profile email"


def _issuer(standin: StandIn) -> str:
    return f"{standin.url}/oauth/oidc"


def _introspect(standin: StandIn, token: str) -> dict:
    """What the provider says about a token (RFC 7662), asked as the registered client."""
    pair = f"{quote_plus(OIDC_CLIENT_ID)}:{quote_plus(OIDC_CLIENT_SECRET)}"
    answer = httpx.post(
        f"{_issuer(standin)}/introspect",
        data={"token": token},
        headers={"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _refreshes(standin: StandIn) -> int:
    return int(standin.control("GET", "/oauth/ledger").json()["refreshes"])


def _wait_for(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _register_provider(ui: UI, standin: StandIn, name: str) -> None:
    """Ada adds the provider by its issuer URL: Discover fills the endpoints."""
    page = ui.page
    ui.goto("/oauth-apps")
    expect(page.get_by_role("heading", name="OAuth apps", exact=True)).to_be_visible()
    if page.locator("#oauth-apps-table").count() == 0:
        expect(page.get_by_text("No OAuth apps yet")).to_be_visible()
        ui.shot("oauth-apps-empty")
    page.locator("#oa-add").click()
    dialog = page.get_by_role("dialog", name="Add an OAuth app")
    expect(dialog.locator("#oa-app")).to_have_value("custom_oauth2")
    dialog.locator("#oa-name").fill(name)
    dialog.locator("#oa-client_secret").fill(OIDC_CLIENT_SECRET)  # kept through Discover
    dialog.locator("#oa-issuer").fill(_issuer(standin))
    dialog.locator("#oa-discover").click()
    expect(dialog.locator("#oa-notice")).to_contain_text("Filled from")
    expect(dialog.locator("#oa-authorize_url")).to_have_value(f"{_issuer(standin)}/authorize")
    expect(dialog.locator("#oa-token_url")).to_have_value(f"{_issuer(standin)}/token")
    expect(dialog.locator("#oa-userinfo_url")).to_have_value(f"{_issuer(standin)}/userinfo")
    expect(dialog.locator("#oa-name")).to_have_value(name)  # what was typed stays
    dialog.locator("#oa-client_id").fill(OIDC_CLIENT_ID)
    dialog.locator("#oa-scopes").fill(SCOPES)
    ui.shot("oauth-app-editor")
    dialog.locator("#oa-save").click()
    expect(page.get_by_text(f"“{name}” saved.")).to_be_visible()
    row = page.locator("#oauth-apps-table").get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("••••" + OIDC_CLIENT_SECRET[-4:])
    expect(row).to_contain_text("not used yet")
    ui.shot("oauth-apps")


def _close_overlays(page: Page) -> None:
    """Escape until no dialog, alert dialog or drawer is open (each closes with an
    animation; a key pressed during one may land on the one beneath)."""
    overlays = page.locator("[role=dialog], [role=alertdialog]")
    for _ in range(4):
        if overlays.count() == 0:
            return
        page.keyboard.press("Escape")
        page.wait_for_timeout(400)
    expect(overlays).to_have_count(0)


def _open_custom(page: Page, provider: str) -> None:
    _close_overlays(page)
    page.get_by_role("button", name="Add connection").click()
    page.get_by_role("dialog").get_by_placeholder("Search apps").fill("custom oauth")
    page.get_by_role("button", name="Custom OAuth 2.0", exact=True).click()
    try:
        expect(page.locator("#add-provider")).to_be_visible(timeout=30_000)
    except AssertionError:
        page.screenshot(path=str(ARTIFACTS / "FAILED-custom-oauth-add.png"), full_page=True)
        raise
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
    _close_overlays(page)

    alice = f"{provider} (Alice Example)"
    _connect(page, provider, "alice")
    expect(page.get_by_text(f"Connected “{alice}”")).to_be_visible()
    expect(table(page)).to_contain_text(alice)

    # The same account again: the connection is updated, not duplicated.
    _connect(page, provider, "alice")
    expect(page.get_by_text(f"Reconnected “{alice}”")).to_be_visible()
    expect(table(page).get_by_role("link", name=alice, exact=True)).to_have_count(1)

    # Another account: a second connection, named after it.
    bob = f"{provider} (Bob Example)"
    _connect(page, provider, "bob", another=True)
    expect(page.get_by_text(f"Connected “{bob}”")).to_be_visible()
    expect(table(page)).to_contain_text(bob)
    assert standin.control("GET", "/oauth/ledger").json()["last_authorize"]["prompt"] == (
        "select_account"
    )

    # Refresh now twice: each answer rotates the refresh token, none is reused.
    before = standin.control("GET", "/oauth/ledger").json()
    table(page).get_by_role("link", name=alice, exact=True).click()
    panel = page.locator("#details-panel")
    for done in (1, 2):
        panel.locator("#details-refresh").click()
        expect(page.get_by_text("Token refreshed.").first).to_be_visible()
        _wait_for(lambda n=done: _refreshes(standin) - before["refreshes"] == n)
    after = standin.control("GET", "/oauth/ledger").json()
    assert after["refreshes"] - before["refreshes"] == 2
    assert after["reuse_detected"] == before["reuse_detected"]
    _close_overlays(page)

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
    expect(latest).to_contain_text("sub-alice")

    # Revoke Bob's: the provider then reports his tokens inactive.
    issued = standin.control("GET", "/oauth/issued").json()
    bobs = [t for t in issued if _introspect(standin, t).get("sub") == "sub-bob"]
    assert bobs, "Bob's tokens are live before the revoke"
    other.goto("/integrations")
    table(page).get_by_role("link", name=bob, exact=True).click()
    page.locator("#details-panel").locator("#details-revoke").click()
    page.locator("#revoke-confirm").click()
    expect(page.get_by_text("Revoked. The provider confirmed")).to_be_visible()
    assert all(_introspect(standin, t) == {"active": False} for t in bobs)
    _close_overlays(page)

    # A wrong `iss` in the authorization response is refused; nothing is connected.
    standin.control("PUT", "/oauth/oidc/settings", {"wrong_iss": True})
    try:
        _open_custom(page, provider)
        popup = _consent(page, "#oauth-connect", decision="Allow", account="carol")
        expect(popup.get_by_role("status")).to_contain_text("another issuer")
    finally:
        standin.control("PUT", "/oauth/oidc/settings", {"wrong_iss": False})
    expect(page.get_by_text("another issuer").first).to_be_visible()
    _close_overlays(page)

    # Deny: the provider's own description is shown; nothing is created.
    _open_custom(page, provider)
    popup = _consent(page, "#oauth-connect", decision="Deny", account="carol")
    said = f"{provider} said: “The person declined to share their account.”"
    expect(popup.get_by_role("status")).to_contain_text(said)
    expect(page.get_by_text(said).first).to_be_visible()
    _close_overlays(page)
    expect(table(page)).not_to_contain_text("Carol Example")

    # Ada's list says which connections use the provider; deleting it is refused.
    ui.goto("/oauth-apps")
    row = ui.page.locator("#oauth-apps-table").get_by_role("row").filter(has_text=provider)
    expect(row).to_contain_text("1 connection")  # Alice's; Bob's was revoked
    row.get_by_role("button", name=f"Delete {provider}").click()
    expect(ui.page.get_by_role("alertdialog")).to_contain_text(alice)
    ui.shot("oauth-app-delete")
    ui.page.locator("#oa-delete-confirm").click()
    expect(ui.page.get_by_role("alertdialog")).to_contain_text("Revoke or delete them")
    ui.page.locator("#oa-delete-cancel").click()

    issued = standin.control("GET", "/oauth/issued").json()
    assert issued, "the provider issued tokens"
    assert_nowhere(ui, *issued, OIDC_CLIENT_SECRET)
    assert_nowhere(other, *issued, OIDC_CLIENT_SECRET)
