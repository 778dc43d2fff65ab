"""The signed-in shell in a real browser: sign in and out, guards, navigation,
workspace switching, and no secret in anything the browser received."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect

from connections_app.standin.app import DEMO_CREDENTIALS
from tests.e2e.conftest import UI

DEMO_SECRETS = [
    v
    for creds in DEMO_CREDENTIALS.values()
    for k, v in creds.items()
    if k not in {"subdomain", "account_sid", "header"}
]


def test_sign_in_page_renders(ui: UI) -> None:
    ui.goto("/sign-in")
    expect(ui.page.get_by_role("heading", name="Sign in to Connections")).to_be_visible()
    expect(ui.page.get_by_label("Email")).to_be_visible()
    expect(ui.page.get_by_label("Password")).to_have_attribute("type", "password")
    ui.shot("sign-in")
    assert not ui.seen.console_errors, ui.seen.console_errors


def test_wrong_password_is_refused_with_a_clear_message(ui: UI) -> None:
    ui.sign_in("wes@northstar.test", "not-the-password")
    expect(ui.page.get_by_role("alert")).to_contain_text("Email or password is incorrect")
    assert "not-the-password" not in ui.page.url
    assert "not-the-password" not in ui.seen.text()
    cookies = ui.page.context.cookies()
    assert not [c for c in cookies if c["name"] == "cx_session"]


def test_pages_need_a_session_and_come_back_after_sign_in(ui: UI) -> None:
    ui.goto("/integrations")
    expect(ui.page).to_have_url(re.compile(r"/sign-in\?next=/integrations"))
    ui.page.get_by_label("Email").fill("wes@northstar.test")
    ui.page.get_by_label("Password").fill("connections-demo")
    ui.page.get_by_label("Password").press("Enter")  # keyboard only
    expect(ui.page).to_have_url(re.compile(r"/integrations/?$"))
    expect(ui.page.get_by_role("heading", name="Integrations")).to_be_visible()


def test_admin_sees_workspace_connections_masked_and_no_secret_reaches_the_browser(
    ui: UI,
) -> None:
    ui.sign_in("wes@northstar.test")
    expect(ui.page.get_by_role("heading", name="Integrations")).to_be_visible()
    table = ui.page.get_by_role("table")
    expect(table).to_contain_text("Stripe (prod)")
    expect(table).to_contain_text("••••4242")
    expect(table).not_to_contain_text("Slack bot")  # another workspace's connection
    ui.shot("integrations")
    cookie = next(c for c in ui.page.context.cookies() if c["name"] == "cx_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    received = ui.seen.text()
    assert ui.seen.frames, "no websocket frames were recorded"
    for secret in DEMO_SECRETS:
        assert secret not in received
    assert cookie["value"] not in received  # the session token never travels in frames


def test_navigation_and_workspace_switch(ui: UI) -> None:
    ui.sign_in("bea@northstar.test")
    expect(ui.page.get_by_role("table")).to_contain_text("Stripe (prod)")
    ui.page.get_by_role("link", name="Builder").click()
    expect(ui.page).to_have_url(re.compile(r"/builder/?$"))
    expect(ui.page.get_by_role("heading", name="Builder")).to_be_visible()
    ui.page.get_by_role("link", name="Integrations").click()
    expect(ui.page.get_by_role("table")).to_contain_text("Stripe (prod)")

    ui.page.locator("#workspace-switcher").click()
    ui.page.get_by_role("option", name="Globex").click()
    table = ui.page.get_by_role("table")
    expect(table).to_contain_text("Slack bot")
    expect(table).not_to_contain_text("Stripe (prod)")
    expect(ui.page.locator("#workspace-switcher")).to_contain_text("Globex")
    # The choice is kept server-side: a fresh load stays in Globex.
    ui.page.reload()
    expect(ui.page.get_by_role("table")).to_contain_text("Slack bot")


def test_viewer_has_no_admin_pages_and_client_lands_in_the_portal(ui: UI) -> None:
    ui.sign_in("cleo@acme.test")
    expect(ui.page).to_have_url(re.compile(r"/portal/connections/?$"))
    expect(ui.page.get_by_role("link", name="Integrations")).to_have_count(0)
    ui.goto("/integrations")
    expect(ui.page).to_have_url(re.compile(r"/portal/connections/?$"))


def _tab_token(ui: UI) -> str | None:
    return ui.page.evaluate("() => window.sessionStorage.getItem('token')")


def test_sign_out_ends_the_session_on_the_server(ui: UI) -> None:
    ui.goto("/sign-in")
    expect(ui.page.get_by_label("Email")).to_be_visible()
    ui.page.wait_for_function("() => window.sessionStorage.getItem('token') !== null")
    before_sign_in = _tab_token(ui)
    ui.page.get_by_label("Email").fill("wes@northstar.test")
    ui.page.get_by_label("Password").fill("connections-demo")
    ui.page.get_by_role("button", name="Sign in").click()
    expect(ui.page.get_by_role("heading", name="Integrations")).to_be_visible()
    # Signing in (and out) gives the tab a new Reflex state token: no late disconnect
    # of the sign-in page's socket can take the first page's replies with it.
    signed_in = _tab_token(ui)
    assert signed_in and signed_in != before_sign_in
    token = next(c for c in ui.page.context.cookies() if c["name"] == "cx_session")["value"]
    ui.page.get_by_role("button", name="Sign out").click()
    expect(ui.page).to_have_url(re.compile(r"/sign-in"))
    expect(ui.page.get_by_text("You have been signed out.")).to_be_visible()
    ui.page.wait_for_function("() => window.sessionStorage.getItem('token') !== null")
    assert _tab_token(ui) != signed_in
    # Replaying the old cookie gets nothing: the session row is gone.
    ui.page.context.add_cookies([{"name": "cx_session", "value": token, "url": ui.app.url}])
    ui.goto("/integrations")
    expect(ui.page).to_have_url(re.compile(r"/sign-in\?next=/integrations"))


def test_quick_full_navigations_each_get_their_session_and_a_new_token(ui: UI) -> None:
    """Leaving a page that is still loading for another (a link opened over it, a
    reload) used to leave the next page, now and then, without its session: both
    documents shared one Reflex token, and the old socket's late disconnect (on
    another worker) took the new page's replies with it. Every document now draws a
    token of its own."""
    ui.sign_in("wes@northstar.test")
    expect(ui.page.get_by_role("heading", name="Integrations")).to_be_visible()
    pages = [("/runs", "Runs"), ("/audit", "Audit log"), ("/integrations", "Integrations")]
    tokens = {_tab_token(ui)}
    for round_ in range(8):
        path, heading = pages[round_ % len(pages)]
        ui.page.goto(ui.app.url + "/builder", wait_until="commit")  # left while loading
        ui.page.goto(ui.app.url + path, wait_until="commit")
        expect(ui.page.get_by_role("heading", name=heading, exact=True)).to_be_visible(
            timeout=8_000
        )
        expect(ui.page.locator("#workspace-switcher")).to_contain_text("Acme")
        ui.page.wait_for_function("() => window.sessionStorage.getItem('token') !== null")
        tokens.add(_tab_token(ui))
    assert len(tokens) == 9, "every document drew its own token"


def test_cross_origin_sign_in_is_refused(live_app) -> None:  # type: ignore[no-untyped-def]
    response = httpx.post(
        f"{live_app.url}/auth/sign-in",
        data={"email": "wes@northstar.test", "password": "connections-demo"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
