"""Every open view of a workspace follows changes made elsewhere, without a reload
(issue 11): two people in one workspace in two browsers, on two backend workers
sharing Redis; what one does (or the CLI does) shows in the other's open list and
details panel within 2 s."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.conftest import UI
from tests.e2e.test_integrations import add_via_cli, open_menu, stripe_key, table, unique

LIVE = 2_000  # ms


def test_changes_by_one_person_or_the_cli_reach_another_persons_open_views(
    ui: UI, other: UI
) -> None:
    wes, bea = ui.page, other.page
    ui.sign_in("wes@northstar.test")
    other.sign_in("bea@northstar.test")
    expect(table(wes)).to_be_visible()
    expect(table(bea)).to_be_visible()

    # The CLI adds one: both open lists show it.
    label = unique("Stripe live")
    add_via_cli(ui, label, stripe_key())
    expect(table(bea)).to_contain_text(label, timeout=LIVE)
    expect(table(wes)).to_contain_text(label, timeout=LIVE)

    # Bea opens its details; Wes rotates it: Bea's panel shows the new tail.
    table(bea).get_by_role("link", name=label).click()
    panel = bea.locator("#details-panel")
    expect(panel).to_contain_text(label)
    new = stripe_key()
    open_menu(wes, label)
    wes.get_by_role("menuitem", name="Rotate credential").click()
    wes.locator("#rotate-secret_key").fill(new)
    wes.locator("#rotate-save").click()
    expect(panel).to_contain_text("••••" + new[-4:], timeout=LIVE)

    # Wes renames it: Bea's list and panel follow.
    renamed = unique("Stripe renamed")
    open_menu(wes, label)
    wes.get_by_role("menuitem", name="Edit").click()
    wes.locator("#edit-label").fill(renamed)
    wes.locator("#edit-save").click()
    expect(table(bea)).to_contain_text(renamed, timeout=LIVE)
    expect(panel).to_contain_text(renamed, timeout=LIVE)

    # Wes deletes it: it leaves Bea's list and her open panel closes.
    open_menu(wes, renamed)
    wes.get_by_role("menuitem", name="Delete").click()
    wes.locator("#delete-confirm").click()
    expect(table(bea)).not_to_contain_text(renamed, timeout=LIVE)
    expect(bea.locator("#details-panel")).to_have_count(0, timeout=LIVE)
    ui.shot("live-after-delete")
