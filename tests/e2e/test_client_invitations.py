"""Inviting a client (F24), end to end: a workspace admin invites an email on /clients,
copies the link from the dialog, the invited person opens it in another browser,
sets a password and lands in the portal signed in; the admin's open People tab
shows the invitation as used within 2 s, and the link does not work a second time.
The link's token never reaches the app's log."""

from __future__ import annotations

import os
import re

from playwright.sync_api import expect

from connections_app.core.identity.invitations import INVALID_LINK
from tests.e2e.conftest import UI

LIVE = 2_000  # ms
NEW_PASSWORD = "nina-chooses-a-long-password"


def invite(ui: UI, email: str, name: str) -> str:
    """Wes's Invite dialog on /clients (already open): the link shown once, copied, and
    the dialog closed; the new invitation is listed as pending."""
    ui.goto("/clients")
    ui.page.get_by_role("button", name="Invite a client").first.click()
    dialog = ui.page.get_by_role("dialog")
    dialog.get_by_label("Email").fill(email)
    dialog.get_by_label("Name (optional)").fill(name)
    dialog.get_by_label("Name (optional)").press("Enter")  # keyboard submits the form
    link_input = dialog.get_by_label("Invitation link")
    expect(link_input).to_have_value(re.compile(r"/invite/[A-Za-z0-9_-]{43}$"))
    expect(dialog).to_contain_text(email)
    link = link_input.input_value()
    dialog.get_by_role("button", name="Copy").click()
    ui.shot("client-invitation-link")
    dialog.get_by_role("button", name="Done").click()
    expect(ui.page.get_by_role("dialog")).to_have_count(0)
    expect(ui.page.locator(".invitation-row", has_text=email)).to_contain_text("Pending")
    return link


def accept(other: UI, link: str, email: str, name: str) -> None:
    """The invited person opens the link in their own browser and sets a password."""
    other.page.goto(link)
    expect(other.page.get_by_role("heading")).to_have_text(
        "Northstar Agency invites you to the Acme Corp client portal"
    )
    expect(other.page.locator("#invite-email")).to_have_text(email)
    expect(other.page.get_by_label("Your name")).to_have_value(name)
    other.page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    other.page.get_by_label("Confirm password").fill(NEW_PASSWORD)
    other.page.get_by_role("button", name="Set password and open the portal").click()
    expect(other.page).to_have_url(re.compile(r"/portal/connections/?$"))


def test_an_invited_client_sets_a_password_and_lands_in_the_portal(ui: UI, other: UI) -> None:
    email = f"nina-{os.urandom(3).hex()}@acme-client.test"
    ui.sign_in("wes@northstar.test")
    expect(ui.page.get_by_role("heading", name="Integrations")).to_be_visible()
    link = invite(ui, email, "Nina Newclient")
    token = link.rsplit("/", 1)[1]
    row = ui.page.locator(".invitation-row", has_text=email)

    other.page.goto(link)
    other.page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    other.page.get_by_label("Confirm password").fill("not-the-same-password")
    other.page.get_by_role("button", name="Set password and open the portal").click()
    expect(other.page.get_by_role("alert")).to_contain_text("not the same")
    accept(other, link, email, "Nina Newclient")
    expect(other.page.get_by_text("Nothing authorized yet")).to_be_visible()
    cookie = next(c for c in other.page.context.cookies() if c["name"] == "cx_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # Wes's open page follows without a reload.
    expect(row).to_contain_text("Used", timeout=LIVE)
    expect(ui.page.locator("#client-people")).to_contain_text(email, timeout=LIVE)

    again = other.page.goto(link)
    assert again is not None and again.status == 404
    expect(other.page.get_by_role("alert")).to_have_text(INVALID_LINK)
    assert token not in ui.app.log_path.read_text()
