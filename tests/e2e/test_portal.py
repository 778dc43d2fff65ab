"""The client portal in a real browser (F24): Cleo sees the HubSpot connection she
authorized with the workflow using it, a provider `invalid_grant` raises the banner in
her portal and her Reconnect clears it, her Revoke (after a confirmation) shows as
revoked in Wes's open Integrations list within 2 s and the workflow's run fails
clearly; Vic (a viewer) opening the portal is sent to Integrations and never receives
a portal list."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS, UI
from tests.e2e.test_builder import _db
from tests.e2e.test_integrations import table, unique
from tests.standin_fixtures import StandIn

CLEO = "cleo@acme.test"
ACCOUNT = "bob"  # the stand-in's HubSpot portal Cleo signs in to (carol: test_connect_links)


def _connect_hubspot(ui: UI) -> tuple[str, str, str]:
    """Wes connects HubSpot through the popup; (id, label, stable key) of the row."""
    page = ui.page
    page.get_by_role("button", name="Add connection").click()
    page.get_by_role("dialog").get_by_placeholder("Search apps").fill("hubspot")
    page.get_by_role("button", name="HubSpot", exact=True).click()
    with page.expect_popup() as popup_info:
        page.locator("#oauth-connect").click()
    popup = popup_info.value
    popup.locator("#account").select_option(ACCOUNT)
    popup.get_by_role("button", name="Allow").click()
    popup.wait_for_event("close", timeout=10_000)
    rows = _db(
        ui,
        "SELECT id, label, stable_key FROM connections "
        "WHERE app = 'hubspot' AND external_identity = :who",
        who=f"P-{ACCOUNT}",
    )
    assert len(rows) == 1, rows
    conn_id, label, key = rows[0]
    expect(table(page)).to_contain_text(label)
    return conn_id, label, key


def _authorized_by_cleo(ui: UI, conn_id: str) -> None:
    """What a connect link records (links are another change of issue 13): the
    connection is the workspace's, authorized by the client."""
    _db(
        ui,
        "UPDATE connections SET authorized_by = (SELECT id FROM users WHERE email = :email) "
        "WHERE id = :id",
        email=CLEO,
        id=conn_id,
    )


def _import_workflow(ui: UI, name: str, stable_key: str) -> None:
    node = dict(
        label="Create a contact",
        app="hubspot",
        action="create_contact",
        auth_kind="oauth2",
        params={"email": "lead@example.test", "firstname": "Lead"},
        connection=stable_key,
    )
    document = dict(format="connections.workflow", version=1, name=name, nodes=[node])
    command = "workflow import --account northstar --workspace acme --file -"
    result = ui.app.admin(*command.split(), stdin=json.dumps(document))
    assert result.returncode == 0, result.stderr
    assert "1 bound" in result.stdout, result.stdout


def _card(page: Page, conn_id: str):  # type: ignore[no-untyped-def]
    return page.locator(f"#portal-{conn_id}")


def test_cleo_reconnects_and_revokes_her_connection_from_the_portal(
    ui: UI, other: UI, standin: StandIn
) -> None:
    wes, cleo = ui.page, other.page
    ui.sign_in("wes@northstar.test")
    expect(table(wes)).to_be_visible()
    conn_id, label, key = _connect_hubspot(ui)
    _authorized_by_cleo(ui, conn_id)
    workflow = unique("Portal contacts")
    _import_workflow(ui, workflow, key)

    # Cleo lands in her portal: her connection, the workflow using it, her actions only.
    other.sign_in(CLEO)
    expect(cleo).to_have_url(re.compile(r"/portal/connections/?$"))
    card = _card(cleo, conn_id)
    expect(card).to_contain_text(label)
    expect(card.locator(".portal-workflows")).to_contain_text(workflow)
    expect(card.get_by_role("link", name=f"Reconnect {label}")).to_be_visible()
    expect(card.get_by_role("button", name=f"Revoke {label}")).to_be_visible()
    expect(card.locator(".portal-rotate")).to_have_count(0)  # a sign-in is reconnected
    shown = [name for d in _portal_deltas(other.seen.frames) for name in _labels(d)]
    assert label in shown, "the frame reader below sees the portal's rows when there are some"
    expect(cleo.locator("#connections-table")).to_have_count(0)  # no workspace list
    other.shot("portal")
    for width in (390, 900):
        cleo.set_viewport_size({"width": width, "height": 800})
        expect(card).to_be_visible()
        other.shot(f"portal-{width}")
        overflow = cleo.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, f"horizontal scroll at {width} px"
    cleo.set_viewport_size({"width": 1280, "height": 800})

    # Wes sees who authorized it, in the list and the details panel.
    wes.reload()
    row = table(wes).locator(f"#row-{conn_id}")
    expect(row).to_contain_text("Authorized by Cleo Client")
    ui.shot("integrations-authorized-by")
    row.get_by_role("link", name=label, exact=True).click()
    panel = wes.locator("#details-panel")
    expect(panel.locator("#details-authorized-by")).to_have_text("Authorized by Cleo Client")

    # The provider refuses the refresh token: Cleo's portal shows the banner, live.
    standin.control("PUT", "/oauth/hubspot/settings", {"token_mode": "invalid_grant"})
    panel.locator("#details-refresh").click()
    expect(wes.get_by_text("Reconnect to authorize it again")).to_be_visible()
    banner = cleo.locator("#reauth-banner")
    expect(banner).to_contain_text("A connection needs to be reauthorized", timeout=5_000)
    cleo.locator("#reauth-toggle").click()
    standin.control("PUT", "/oauth/hubspot/settings", {"token_mode": "ok"})
    other.shot("portal-banner")
    with cleo.expect_popup() as popup_info:
        banner.get_by_role("link", name=f"Reconnect {label}").click()
    popup = popup_info.value
    popup.locator("#account").select_option(ACCOUNT)
    popup.get_by_role("button", name="Allow").click()
    popup.wait_for_event("close", timeout=10_000)
    expect(banner).to_have_count(0, timeout=5_000)
    expect(card).to_contain_text("Active")
    assert _db(
        ui,
        "SELECT u.email FROM connections c JOIN users u ON u.id = c.authorized_by WHERE c.id = :id",
        id=conn_id,
    ) == [(CLEO,)]

    # Cleo revokes it after confirming; Wes's open list shows it revoked within 2 s.
    wes.keyboard.press("Escape")
    expect(row).to_contain_text("Active")
    card.get_by_role("button", name=f"Revoke {label}").click()
    dialog = cleo.get_by_role("alertdialog")
    expect(dialog).to_contain_text(f"Revoke “{label}”?")
    cleo.locator("#revoke-confirm").click()
    expect(cleo.get_by_text("Revoked").first).to_be_visible()
    expect(row).to_contain_text("Revoked", timeout=2_000)
    expect(card).to_contain_text("Revoked")
    expect(card.get_by_role("button", name=f"Revoke {label}")).to_have_count(0)
    expect(cleo.locator("#portal-activity")).to_contain_text("Revoked")
    expect(cleo.locator("#portal-activity")).to_contain_text("Reauthorized")

    # A run of the workflow using it fails clearly.
    ui.goto("/builder")
    wes.locator(".cx-workflow-item", has_text=workflow).click()
    expect(wes.locator("#workflow-name")).to_have_text(workflow)
    wes.locator("#run-live").click()
    expect(wes.get_by_text("revoked").first).to_be_visible()
    cleo.screenshot(path=str(ARTIFACTS / "portal-revoked.png"), full_page=True)


def test_a_viewer_opening_the_portal_is_sent_to_integrations_with_no_portal_list(
    ui: UI,
) -> None:
    page = ui.page
    ui.sign_in("vic@northstar.test")
    expect(table(page)).to_be_visible()
    received = len(ui.seen.frames)
    ui.goto("/portal/connections")
    expect(page).to_have_url(re.compile(r"/integrations/?$"))
    expect(table(page)).to_be_visible()
    expect(page.locator(".portal-card")).to_have_count(0)
    sent = _portal_deltas(ui.seen.frames[received:])
    # The portal's state may tell the page it refused; it never carries a row.
    assert all(not d.get("rows_rx_state_") and not d.get("items_rx_state_") for d in sent)
    assert not any(label for d in sent for label in _labels(d)), sent


def _portal_deltas(frames: list[str]) -> list[dict]:
    """What the server told the browser about the portal's state (socket.io frames)."""
    found = []
    for frame in frames:
        if "portal____portal" not in frame or "[" not in frame:
            continue
        body = frame[frame.index("[") :]  # after socket.io's `42/_event,`
        try:
            message = json.loads(body)
        except ValueError:
            continue
        for part in message if isinstance(message, list) else [message]:
            delta = part.get("delta", {}) if isinstance(part, dict) else {}
            found += [v for k, v in delta.items() if re.search(r"portal____portal_\w*state$", k)]
    return found


def _labels(delta: dict) -> list[str]:
    return [r.get("label", "") for r in delta.get("rows_rx_state_", []) if isinstance(r, dict)]
