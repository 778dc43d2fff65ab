"""Connect links (F24) in real browsers: Wes asks Cleo for HubSpot on /clients, Cleo
answers through the stand-in provider's consent popup, and the connection appears in
her portal and in Wes's open Integrations list within 2 s. The same link again, an
expired one, another client's and a tampered one each show a clear page and create
nothing. A Stripe key entered through a link reaches no browser, log, state or row."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from tests.e2e.conftest import UI
from tests.e2e.test_integrations import assert_nowhere, table
from tests.e2e.test_pages_clean import Console, _check
from tests.integration.dbdump import dump, leaks
from tests.standin_fixtures import StandIn

HUBSPOT_LABEL = "HubSpot (Acme link)"
STRIPE_LABEL = "Stripe (Acme link)"


def _request_link(ui: UI, app: str, label: str, client_email: str | None) -> str:
    """Wes's dialog on /clients; the URL shown once in the read-only input."""
    page = ui.page
    page.locator("#clients-tab-links").click()
    page.locator("#link-request").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("#link-app").select_option(app)
    dialog.locator("#link-label").fill(label)
    if client_email:
        option = dialog.locator("#link-client option", has_text=client_email)
        dialog.locator("#link-client").select_option(option.get_attribute("value"))
    dialog.locator("#link-create").click()
    field = dialog.locator("#connect-link-url")
    expect(field).to_have_value(re.compile(r"/connect/[A-Za-z0-9_-]{43}$"))
    url = field.input_value()
    _check(ui, "connect link shown")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    return urlsplit(url).path


def _acme_connections(ui: UI) -> int:
    engine = create_engine(ui.app.env["REFLEX_DB_URL"])
    with engine.connect() as conn:
        count = conn.execute(
            text(
                "SELECT count(*) FROM connections c JOIN workspaces w ON w.id = c.workspace_id "
                "WHERE w.slug = 'acme'"
            )
        ).scalar_one()
    engine.dispose()
    return int(count)


def _insert_link(ui: UI, *, client_email: str, expired: bool) -> str:
    """A link row written straight into the app's database (the app's clock cannot be
    moved): expired, or bound to another client. Returns its token path."""
    token = secrets.token_urlsafe(32)
    engine = create_engine(ui.app.env["REFLEX_DB_URL"])
    now = datetime.now(UTC)
    with engine.begin() as conn:
        ws = conn.execute(text("SELECT id, account_id FROM workspaces WHERE slug = 'acme'")).one()
        client = conn.execute(
            text("SELECT id FROM users WHERE email = :e"), {"e": client_email}
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO connect_links (id, account_id, workspace_id, app, label, "
                "client_user_id, token_hash, expires_at, created_at) VALUES "
                "(:id, :a, :w, 'hubspot', 'Planted', :c, :h, :x, :n)"
            ),
            {
                "id": secrets.token_hex(16),
                "a": ws.account_id,
                "w": ws.id,
                "c": client,
                "h": hashlib.sha256(token.encode()).hexdigest(),
                "x": (now - timedelta(hours=1)) if expired else (now + timedelta(days=1)),
                "n": now - timedelta(days=2),
            },
        )
    engine.dispose()
    return f"/connect/{token}"


def _portal_settled(ui: UI) -> None:
    """Cleo's portal has answered every load of its page (her session, her connections,
    her activity) before she opens the link, as a person reading it would. (Leaving a
    page still loading is covered on its own by test_shell's quick navigations.)"""
    expect(ui.page.get_by_role("heading", name="My connections")).to_be_visible()
    expect(ui.page.locator("#portal-activity")).to_contain_text("Signed in")


def _problem(ui: UI, path: str, title: str) -> None:
    ui.goto(path)
    expect(ui.page.locator("#connect-link-problem")).to_have_text(title)
    expect(ui.page.get_by_text("Nothing was connected.")).to_be_visible()


def test_a_client_answers_connect_links_once(ui: UI, other: UI, standin: StandIn) -> None:
    wes, cleo = ui, other
    consoles = [Console(wes.page), Console(cleo.page)]
    wes.sign_in("wes@northstar.test")
    expect(table(wes.page)).to_be_visible()
    wes.goto("/clients")
    path = _request_link(wes, "hubspot", HUBSPOT_LABEL, "cleo@acme.test")
    expect(wes.page.locator("#connect-links-table")).to_contain_text(HUBSPOT_LABEL)
    expect(wes.page.locator("#connect-links-table")).to_contain_text("Pending")
    _check(wes, "connect links tab")
    wes.shot("connect-links-admin")
    wes.goto("/integrations")
    expect(table(wes.page)).to_be_visible()
    before = _acme_connections(wes)

    # Signed out, the link goes to sign-in first and comes back.
    cleo.goto(path)
    expect(cleo.page).to_have_url(re.compile(r"/sign-in"))
    cleo.page.get_by_label("Email").fill("cleo@acme.test")
    cleo.page.get_by_label("Password").fill("connections-demo")
    cleo.page.get_by_role("button", name="Sign in").click()
    expect(cleo.page).to_have_url(re.compile(re.escape(path) + "/?$"))
    expect(cleo.page.locator("#connect-link-title")).to_have_text(
        "Northstar Agency asks you to connect HubSpot for Acme Corp"
    )
    expect(cleo.page.get_by_text("nobody at Northstar Agency can read them")).to_be_visible()
    _check(cleo, "connect link page")
    cleo.shot("connect-link-page")
    with cleo.page.expect_popup() as popup_info:
        cleo.page.locator("#connect-link-oauth").click()
    popup = popup_info.value
    expect(popup.get_by_text("asks to access your account")).to_be_visible()
    popup.locator("#account").select_option("carol")
    popup.get_by_role("button", name="Allow").click()
    popup.wait_for_event("close", timeout=10_000)
    expect(table(wes.page)).to_contain_text(HUBSPOT_LABEL, timeout=2_000)
    expect(cleo.page.locator("#connect-link-done")).to_be_visible(timeout=2_000)
    _check(cleo, "connect link done")
    cleo.shot("connect-link-done")
    cleo.goto("/portal/connections")
    expect(cleo.page.locator("#portal-connections")).to_contain_text(HUBSPOT_LABEL)
    assert _acme_connections(wes) == before + 1

    # Every unusable link: one clear page, nothing created.
    _problem(cleo, path, "This link was already used")
    _problem(
        cleo,
        _insert_link(wes, client_email="cleo@acme.test", expired=True),
        "This link has expired",
    )
    email = f"dora-{secrets.token_hex(3)}@acme.test"
    made = wes.app.admin(
        "user",
        "create",
        "--email",
        email,
        "--name",
        "Dora Client",
        "--password-stdin",
        stdin="another-client-pass",
    )
    assert made.returncode == 0, made.stderr
    added = wes.app.admin(
        "user",
        "add-member",
        "--email",
        email,
        "--account",
        "northstar",
        "--workspace",
        "acme",
        "--role",
        "client",
    )
    assert added.returncode == 0, added.stderr
    _problem(cleo, _insert_link(wes, client_email=email, expired=False), "This link is not yours")
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    _problem(cleo, tampered, "This link is not valid")
    _check(cleo, "connect link invalid")
    cleo.shot("connect-link-invalid")
    assert _acme_connections(wes) == before + 1
    messages = [m for c in consoles for m in c.messages]
    assert not messages, "\n".join(messages)


def test_an_api_key_through_a_link_stays_secret(ui: UI, other: UI, standin: StandIn) -> None:
    wes, cleo = ui, other
    key = "sk_test_" + "LinkCanary" + secrets.token_hex(8)
    wes.sign_in("wes@northstar.test")
    expect(table(wes.page)).to_be_visible()
    wes.goto("/clients")
    path = _request_link(wes, "stripe", STRIPE_LABEL, None)  # any client
    wes.goto("/integrations")
    expect(table(wes.page)).to_be_visible()
    cleo.sign_in("cleo@acme.test")
    _portal_settled(cleo)
    cleo.goto(path)
    expect(cleo.page.locator("#connect-link-title")).to_contain_text("connect Stripe")
    cleo.page.locator("#link-secret_key").fill(key)
    cleo.page.locator("#connect-link-submit").click()
    expect(cleo.page.locator("#connect-link-done")).to_be_visible()
    expect(table(wes.page)).to_contain_text(STRIPE_LABEL, timeout=2_000)
    assert_nowhere(cleo, key)
    assert_nowhere(wes, key)
    engine = create_engine(wes.app.env["REFLEX_DB_URL"])
    assert leaks(dump(engine), key) == []
    engine.dispose()
