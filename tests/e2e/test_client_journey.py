"""The client journey of issue 13 in one go, as an agency and its new client live it:
Wes invites a new client, who sets a password through the link and lands in the
portal; Wes asks that client for HubSpot and the request appears in the open portal;
the client answers it with the provider's consent popup, and the connection shows in
the client's portal and in Wes's open Integrations list within 2 s, "Authorized by"
the client; a provider `invalid_grant` raises the banner in the client's portal and
Reconnect there clears it; the client revokes it and Wes's list shows it revoked, and
a workflow using it fails clearly; the same link again and a tampered one create
nothing. (Expired and other clients' links: test_connect_links; a viewer and the
portal: test_portal.)"""

from __future__ import annotations

import os
import re

from playwright.sync_api import expect

from tests.e2e.conftest import UI
from tests.e2e.test_builder import _db
from tests.e2e.test_client_invitations import accept, invite
from tests.e2e.test_connect_links import _problem, _request_link
from tests.e2e.test_integrations import table, unique
from tests.e2e.test_portal import _import_workflow
from tests.standin_fixtures import StandIn

LIVE = 2_000  # ms
ACCOUNT = "dana"  # the stand-in HubSpot account only this test signs in with


def test_an_invited_client_authorizes_reconnects_and_revokes(
    ui: UI, other: UI, standin: StandIn
) -> None:
    wes, client = ui, other
    email = f"nora-{os.urandom(3).hex()}@acme-client.test"
    name = "Nora Newclient"
    label = unique("HubSpot for Nora")

    # Wes invites; the link sets a password and lands in the portal.
    wes.sign_in("wes@northstar.test")
    expect(table(wes.page)).to_be_visible()
    link = invite(wes, email, name)
    accept(client, link, email, name)
    expect(client.page.get_by_text("Nothing authorized yet")).to_be_visible()

    # Wes asks this client for HubSpot; the open portal shows the request.
    path = _request_link(wes, "hubspot", label, email)
    requests = client.page.locator("#portal-requests")
    expect(requests).to_contain_text("Northstar Agency asks you to connect HubSpot", timeout=LIVE)
    wes.goto("/integrations")
    expect(table(wes.page)).to_be_visible()

    # The client answers from the portal: the consent popup, then live everywhere.
    requests.get_by_role("link", name="Connect HubSpot").click()
    expect(client.page.locator("#connect-link-title")).to_have_text(
        "Northstar Agency asks you to connect HubSpot for Acme Corp"
    )
    with client.page.expect_popup() as popup_info:
        client.page.locator("#connect-link-oauth").click()
    popup = popup_info.value
    popup.locator("#account").select_option(ACCOUNT)
    popup.get_by_role("button", name="Allow").click()
    popup.wait_for_event("close", timeout=10_000)
    expect(client.page.locator("#connect-link-done")).to_be_visible(timeout=LIVE)
    row = table(wes.page).locator("tr", has_text=label)
    expect(row).to_contain_text(f"Authorized by {name}", timeout=LIVE)
    [(conn_id, stable_key)] = _db(
        wes, "SELECT id, stable_key FROM connections WHERE label = :label", label=label
    )
    client.goto("/portal/connections")
    card = client.page.locator(f"#portal-{conn_id}")
    expect(card).to_contain_text(label)
    expect(card).to_contain_text("Active")
    expect(client.page.locator("#portal-requests")).to_have_count(0)  # answered
    workflow = unique("Nora's contacts")
    _import_workflow(wes, workflow, stable_key)
    expect(card.locator(".portal-workflows")).to_contain_text(workflow, timeout=LIVE)

    # The provider refuses the refresh token: the banner in the client's portal.
    standin.control("PUT", "/oauth/hubspot/settings", {"token_mode": "invalid_grant"})
    try:
        row.get_by_role("link", name=label, exact=True).click()
        panel = wes.page.locator("#details-panel")
        panel.locator("#details-refresh").click()
        expect(wes.page.get_by_text("Reconnect to authorize it again")).to_be_visible()
    finally:
        standin.control("PUT", "/oauth/hubspot/settings", {"token_mode": "ok"})
    banner = client.page.locator("#reauth-banner")
    expect(banner).to_contain_text("A connection needs to be reauthorized", timeout=5_000)
    client.page.locator("#reauth-toggle").click()
    with client.page.expect_popup() as popup_info:
        banner.get_by_role("link", name=f"Reconnect {label}").click()
    popup = popup_info.value
    popup.locator("#account").select_option(ACCOUNT)
    popup.get_by_role("button", name="Allow").click()
    popup.wait_for_event("close", timeout=10_000)
    expect(banner).to_have_count(0, timeout=5_000)
    expect(card).to_contain_text("Active")

    # The client revokes it; Wes's open list follows, and the workflow fails clearly.
    wes.page.keyboard.press("Escape")
    card.get_by_role("button", name=f"Revoke {label}").click()
    client.page.locator("#revoke-confirm").click()
    expect(card).to_contain_text("Revoked")
    expect(row).to_contain_text("Revoked", timeout=LIVE)
    wes.goto("/builder")
    wes.page.locator(".cx-workflow-item", has_text=workflow).click()
    expect(wes.page.locator("#workflow-name")).to_have_text(workflow)
    wes.page.locator("#run-live").click()
    expect(wes.page.get_by_text("revoked").first).to_be_visible()

    # The link again, and a tampered one: a clear page, nothing created.
    before = _db(wes, "SELECT count(*) FROM connections")
    _problem(client, path, "This link was already used")
    tampered = re.sub(r".{3}$", "AAA" if not path.endswith("AAA") else "BBB", path)
    _problem(client, tampered, "This link is not valid")
    assert _db(wes, "SELECT count(*) FROM connections") == before
