"""Every open view of a workspace follows changes made elsewhere, without a reload
(issue 11): two people in one workspace in two browsers, on two backend workers
sharing Redis. What one does in the UI (add, rotate, edit, switch in all nodes,
delete) or the CLI does (add) shows within 2 s in the other's open Integrations
list, details panel, builder node and connection picker; each action toasts once
in the tab that did it and never twice in any tab; "Refresh now" is audited as the
person who pressed it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import UI
from tests.e2e.test_builder import _db
from tests.e2e.test_integrations import add_via_cli, open_menu, stripe_key, table, unique
from tests.e2e.test_oauth import connect_slack

LIVE = 2_000  # ms
DEMO_WORKFLOW = "New customer onboarding"
DEMO_NODE = "Create a customer"  # a Stripe node of the demo workflow

# Every toast a page shows, in order (sonner renders each as one [data-sonner-toast]).
TOAST_RECORDER = """
(() => {
  window.cxToasts = [];
  const seen = new WeakSet();
  new MutationObserver(() => {
    document.querySelectorAll('[data-sonner-toast]').forEach((toast) => {
      if (seen.has(toast)) return;
      seen.add(toast);
      setTimeout(() => window.cxToasts.push((toast.textContent || '').trim()), 50);
    });
  }).observe(document, { childList: true, subtree: true });
})();
"""


class Toasts:
    """The toasts of some tabs since the last `mark()`."""

    def __init__(self, *pages: Page) -> None:
        self.pages = pages
        self.marks = [0] * len(pages)

    def mark(self) -> None:
        self.marks = [len(self._all(p)) for p in self.pages]

    @staticmethod
    def _all(page: Page) -> list[str]:
        return page.evaluate("() => window.cxToasts || []")

    def new(self, page: Page) -> list[str]:
        return self._all(page)[self.marks[self.pages.index(page)] :]

    def once(self, actor: Page, text: str) -> None:
        """`text` toasted exactly once in the acting tab; no toast twice in any tab."""
        expect(actor.locator("[data-sonner-toast]", has_text=text).first).to_be_visible()
        actor.wait_for_timeout(1_000)  # a duplicate would arrive by now
        mine = [t for t in self.new(actor) if text in t]
        assert len(mine) == 1, f"{len(mine)} toasts {text!r} in the acting tab: {mine}"
        for page in self.pages:
            shown = self.new(page)
            twice = {t for t in shown if shown.count(t) > 1}
            assert not twice, f"the same toast more than once in {page.url}: {twice}"
        self.mark()


def _open_demo_node(page: Page) -> None:
    expect(page.locator("#workflow-name")).to_be_visible()
    if page.locator("#node-panel").is_visible():  # the tab's last panel comes back on load
        page.keyboard.press("Escape")
        expect(page.locator("#node-panel")).to_have_count(0)
    page.locator(".cx-workflow-item", has_text=DEMO_WORKFLOW).click()
    expect(page.locator("#workflow-name")).to_have_text(DEMO_WORKFLOW)
    page.get_by_role("button", name=f"Open node {DEMO_NODE}").click()
    expect(page.locator("#picker")).to_be_visible()


def _switch_all(page: Page, to: str) -> None:
    page.locator("#node-panel").locator("#switch-all").click()
    page.locator(f".cx-switch-to[data-label='{to}']").click()
    expect(page.locator("#node-panel").locator("#node-auth")).to_contain_text(f"Uses {to}")


def test_changes_by_one_person_or_the_cli_reach_another_persons_open_views(
    ui: UI, other: UI
) -> None:
    for person in (ui, other):
        person.page.context.add_init_script(TOAST_RECORDER)
    wes, bea = ui.page, other.page
    ui.sign_in("wes@northstar.test")
    other.sign_in("bea@northstar.test")
    expect(table(wes)).to_be_visible()
    expect(table(bea)).to_be_visible()
    # Bea also has the builder open, on the demo Stripe node's panel (its picker).
    builder = bea.context.new_page()
    builder.goto(other.app.url + "/builder")
    _open_demo_node(builder)
    picker, node_auth = builder.locator("#picker"), builder.locator("#node-auth")
    original = node_auth.locator("strong").inner_text()
    toasts = Toasts(wes, bea, builder)
    toasts.mark()

    # The CLI adds one: both open lists and Bea's picker show it.
    from_cli = unique("Stripe cli")
    add_via_cli(ui, from_cli, stripe_key())
    expect(table(bea)).to_contain_text(from_cli, timeout=LIVE)
    expect(picker).to_contain_text(from_cli, timeout=LIVE)
    expect(table(wes)).to_contain_text(from_cli, timeout=LIVE)

    # Wes adds one in the UI.
    label = unique("Stripe live")
    wes.locator("#add-connection").first.click()
    wes.get_by_role("button", name="Stripe", exact=True).click()
    wes.locator("#add-label").fill(label)
    wes.locator("#add-secret_key").fill(stripe_key())
    wes.locator("#add-save").click()
    expect(table(bea)).to_contain_text(label, timeout=LIVE)
    expect(picker).to_contain_text(label, timeout=LIVE)
    toasts.once(wes, f"“{label}” added")

    # Wes switches every node using the demo node's connection to it: Bea's builder
    # node and open node panel follow.
    ui.goto("/builder")
    _open_demo_node(wes)
    toasts.mark()  # Wes's tab loaded a new page
    card = builder.locator(".cx-node", has_text=DEMO_NODE)
    _switch_all(wes, label)
    expect(node_auth).to_contain_text(f"Uses {label}", timeout=LIVE)
    expect(card).to_contain_text(label, timeout=LIVE)
    toasts.once(wes, f"away from “{original}”")

    # Bea opens its details; Wes rotates it: Bea's panel and picker show the new tail.
    ui.goto("/integrations")
    expect(table(wes)).to_contain_text(label)
    toasts.mark()
    table(bea).get_by_role("link", name=label).click()
    panel = bea.locator("#details-panel")
    expect(panel).to_contain_text(label)
    new = stripe_key()
    open_menu(wes, label)
    wes.get_by_role("menuitem", name="Rotate credential").click()
    wes.locator("#rotate-secret_key").fill(new)
    wes.locator("#rotate-save").click()
    expect(panel).to_contain_text("••••" + new[-4:], timeout=LIVE)
    expect(picker.locator(".cx-picker-option", has_text=label)).to_contain_text(
        new[-4:], timeout=LIVE
    )
    toasts.once(wes, f"Credential of “{label}” replaced")

    # Wes renames it: Bea's list, details panel, picker and builder node follow.
    renamed = unique("Stripe renamed")
    open_menu(wes, label)
    wes.get_by_role("menuitem", name="Edit").click()
    wes.locator("#edit-label").fill(renamed)
    wes.locator("#edit-save").click()
    expect(table(bea)).to_contain_text(renamed, timeout=LIVE)
    expect(panel).to_contain_text(renamed, timeout=LIVE)
    expect(picker).to_contain_text(renamed, timeout=LIVE)
    expect(card).to_contain_text(renamed, timeout=LIVE)
    expect(node_auth).to_contain_text(f"Uses {renamed}", timeout=LIVE)
    toasts.once(wes, f"Saved “{renamed}”")

    # Wes deletes it: it leaves Bea's list and picker, her open details panel closes,
    # and her builder node says its connection is missing (not "Active").
    open_menu(wes, renamed)
    wes.get_by_role("menuitem", name="Delete").click()
    wes.locator("#delete-confirm").click()
    expect(table(bea)).not_to_contain_text(renamed, timeout=LIVE)
    expect(bea.locator("#details-panel")).to_have_count(0, timeout=LIVE)
    expect(picker).not_to_contain_text(renamed, timeout=LIVE)
    expect(card).to_contain_text("Connection missing", timeout=LIVE)
    expect(node_auth).to_contain_text("Connection missing", timeout=LIVE)
    toasts.once(wes, f"Deleted “{renamed}”")
    ui.shot("live-after-delete")

    # Wes picks the original connection again: Bea's node follows (and the demo
    # workflow is as it was for the other tests).
    ui.goto("/builder")
    _open_demo_node(wes)
    wes.locator(".cx-picker-option", has_text=original).first.click()
    expect(card).to_contain_text(original, timeout=LIVE)
    expect(node_auth).to_contain_text(f"Uses {original}", timeout=LIVE)


def test_refresh_now_is_audited_as_the_person_who_pressed_it(ui: UI) -> None:
    page = ui.page
    ui.sign_in("wes@northstar.test")
    # Carol's team: test_oauth counts on being the first to connect Alice's.
    label = connect_slack(page, account="carol")
    table(page).get_by_role("link", name=label).click()
    before = _db(ui, "SELECT COALESCE(MAX(id), 0) FROM audit_events")[0][0]
    page.locator("#details-refresh").click()
    expect(page.locator("[data-sonner-toast]", has_text="Token refreshed.")).to_be_visible()
    rows = _db(
        ui,
        "SELECT actor_label FROM audit_events WHERE id > :before AND action = 'refreshed'",
        before=before,
    )
    assert [r[0] for r in rows] == ["wes@northstar.test"], rows
