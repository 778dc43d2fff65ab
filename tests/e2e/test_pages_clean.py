"""Every page, as each role sees it, in the production build (issue 11): valid element
nesting, a console without React warnings, errors or CSP violations, no sideways
scroll from 390 px up, every dialog step closable with focus back on its opener, a
404 page with a way back, and /sign-in sending a signed-in person home.

Screenshots of the main pages at 390 and 900 px wide go to test-results/e2e/; with
UPDATE_SCREENSHOTS=1 to docs/screenshots/ (committed, so a reviewer sees the layout
without running anything; a plain test run leaves the committed ones alone)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.e2e.conftest import ARTIFACTS, ROOT, UI, Recorder
from tests.e2e.live_app import LiveApp

SCREENSHOTS = (
    ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else ARTIFACTS
)
WIDTHS = (390, 900)
MISSING = "/no-such-page"

# What the HTML parser (and React's nesting check) refuses: block content in <p>,
# headings in headings, interactive content in interactive content, forms in forms.
_BLOCK = "address,article,aside,blockquote,details,dialog,div,dl,fieldset,figure,footer,"
_BLOCK += "form,h1,h2,h3,h4,h5,h6,header,hr,main,nav,ol,p,pre,section,table,ul"
_HEADINGS = "h1,h2,h3,h4,h5,h6"
NESTING_JS = f"""() => {{
  const rules = [
    ['p', '{_BLOCK}'],
    ['{_HEADINGS}', '{_HEADINGS}'],
    ['a', 'a,button'],
    ['button', 'a,button'],
    ['form', 'form'],
  ];
  const found = [];
  for (const [outer, inner] of rules) {{
    for (const parent of document.querySelectorAll(outer)) {{
      for (const child of parent.querySelectorAll(inner)) {{
        const text = (child.textContent || '').trim().slice(0, 40);
        const tag = (el) => el.tagName.toLowerCase();
        found.push(`<${{tag(child)}}> in <${{tag(parent)}}>: ${{text}}`);
      }}
    }}
  }}
  return found;
}}"""
OVERFLOW_JS = "() => document.documentElement.scrollWidth - window.innerWidth"
CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI);
});
"""


class Console:
    """Every console warning/error and uncaught page error of one browser page."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda err: self.messages.append(f"pageerror: {err}"))

    def _on_console(self, msg: ConsoleMessage) -> None:
        if msg.type not in ("error", "warning", "assert"):
            return
        url = msg.location.get("url", "")
        if msg.text.startswith("Failed to load resource") and url.endswith(MISSING):
            return  # the 404 page is served with status 404, as it should be
        self.messages.append(f"{msg.type}: {msg.text} ({url})")


def _open(browser: Browser, app: LiveApp, width: int = 1280) -> tuple[UI, Console]:
    context = browser.new_context(viewport={"width": width, "height": 800})
    context.set_default_timeout(15_000)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    return UI(page=page, app=app, seen=Recorder()), Console(page)


def _valid(page: Page, where: str) -> None:
    bad = page.evaluate(NESTING_JS)
    assert not bad, f"{where}: invalid nesting {bad}"


def _settled(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(400)  # dialog and drawer animations


def _check(ui: UI, where: str) -> None:
    _settled(ui.page)
    _valid(ui.page, where)
    overflow = ui.page.evaluate(OVERFLOW_JS)
    assert overflow <= 0, f"{where}: the page scrolls sideways by {overflow}px"


def _signed_in(ui: UI, email: str, landing: str) -> None:
    ui.sign_in(email)
    expect(ui.page).to_have_url(re.compile(landing))
    expect(ui.page.locator("#app-main")).to_be_visible()


def _close_returns_focus(page: Page, opener: str, dialog_role: str = "dialog") -> None:
    """Escape closes the open dialog and focus is back on `opener`."""
    page.keyboard.press("Escape")
    expect(page.get_by_role(dialog_role)).to_have_count(0)
    expect(page.locator(opener)).to_be_focused()


def test_every_page_as_each_role_is_valid_with_a_clean_console(
    browser: Browser, live_app: LiveApp
) -> None:
    ui, console = _open(browser, live_app)
    page = ui.page

    # Signed out: the sign-in page and a 404 that offers sign-in.
    ui.goto("/sign-in")
    expect(page.get_by_role("heading", name="Sign in to Connections")).to_be_visible()
    _check(ui, "sign-in")
    ui.goto(MISSING)
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    _check(ui, "404 signed out")

    # A workspace admin: every page and every dialog step of Integrations.
    _signed_in(ui, "wes@northstar.test", r"/integrations/?$")
    expect(page.locator("#connections-table")).to_contain_text("Stripe (prod)")
    _check(ui, "integrations")

    page.locator("#add-connection").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#app-search")).to_be_visible()
    _check(ui, "add: catalog step")
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Close", exact=True).click()
    expect(dialog).to_have_count(0)
    expect(page.locator("#add-connection").first).to_be_focused()

    page.locator("#add-connection").first.click()
    page.get_by_role("button", name="Stripe", exact=True).click()
    expect(page.locator("#add-label")).to_be_visible()
    _check(ui, "add: form step")
    _close_returns_focus(page, "#add-connection")

    page.locator("#add-connection").first.click()
    page.get_by_placeholder("Search apps").fill("github")
    page.get_by_role("button", name="GitHub", exact=True).click()
    expect(page.locator("#oauth-connect")).to_be_visible()
    _check(ui, "add: OAuth step")
    page.get_by_role("dialog").get_by_role("button", name="Close", exact=True).click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    page.get_by_role("link", name="Stripe (prod)").click()
    expect(page.locator("#details-panel")).to_contain_text("Stable key")
    _check(ui, "details panel")
    page.locator("#details-panel").get_by_role("button", name="Edit").click()
    expect(page.locator("#edit-label")).to_be_visible()
    _check(ui, "edit dialog")
    page.get_by_role("dialog").filter(has=page.locator("#edit-label")).get_by_role(
        "button", name="Cancel"
    ).click()
    expect(page.locator("#edit-label")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(page.locator("#details-panel")).to_have_count(0)

    page.get_by_role("button", name="Actions for Stripe (prod)").click()
    page.get_by_role("menuitem", name="Rotate credential").click()
    expect(page.locator("#rotate-save")).to_be_visible()
    _check(ui, "rotate dialog")
    _close_returns_focus(page, "button[aria-label='Actions for Stripe (prod)']")
    page.get_by_role("button", name="Actions for Stripe (prod)").click()
    page.get_by_role("menuitem", name="Delete").click()
    expect(page.get_by_role("alertdialog")).to_be_visible()
    _check(ui, "delete dialog")
    _close_returns_focus(page, "button[aria-label='Actions for Stripe (prod)']", "alertdialog")

    ui.goto("/builder")
    expect(page.locator("#workflow-name")).to_be_visible()
    page.locator(".cx-workflow-item", has_text="New customer onboarding").click()
    expect(page.locator("#workflow-name")).to_have_text("New customer onboarding")
    _check(ui, "builder")
    for opener, ready, where in (
        ("#new-workflow", "#workflow-name-input", "builder: new workflow"),
        ("#import-workflow", "#import-document", "builder: import"),
        ("#add-node", "#node-action", "builder: add node"),
    ):
        page.locator(opener).click()
        expect(page.locator(ready)).to_be_visible()
        _check(ui, where)
        _close_returns_focus(page, opener)

    opener = "button[aria-label='Open node Create a customer']"
    page.locator(opener).click()
    panel = page.locator("#node-panel")
    expect(panel.locator("#picker")).to_be_visible()
    _check(ui, "builder: node panel")
    panel.locator("#switch-all").click()
    switch = page.get_by_role("dialog").filter(has_text="everywhere")
    expect(switch).to_be_visible()
    _check(ui, "builder: switch in all nodes")
    page.keyboard.press("Escape")
    expect(switch).to_have_count(0)
    expect(panel).to_be_visible()  # only the top dialog closed
    panel.locator("#connect-new-account").click()
    add = page.get_by_role("dialog").filter(has_text="Connect a new account")
    expect(add).to_be_visible()
    _check(ui, "builder: connect a new account")
    add.get_by_role("button", name="Close", exact=True).click()
    expect(add).to_have_count(0)
    expect(panel).to_be_visible()
    _close_returns_focus(page, opener)

    page.locator("#run-test").click()  # a run, so the latest-run card and Runs have rows
    expect(page.locator("#latest-run")).to_be_visible()
    _check(ui, "builder: latest run")

    ui.goto("/runs")
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    expect(page.locator("#app-main")).to_contain_text("New customer onboarding")
    _check(ui, "runs")
    ui.goto("/audit")
    expect(page.locator("#audit-table")).to_be_visible()
    _check(ui, "audit")
    ui.goto(MISSING)
    back = page.get_by_role("link", name="Back to Integrations")
    expect(back).to_be_visible()
    _check(ui, "404 signed in")
    back.click()
    expect(page).to_have_url(re.compile(r"/integrations/?$"))
    expect(page.locator("#connections-table")).to_be_visible()
    ui.goto("/sign-in")
    expect(page).to_have_url(re.compile(r"/integrations/?$"))

    # The account admin's LLM keys; a client's portal (and their 404 way back).
    page.context.clear_cookies()
    _signed_in(ui, "ada@northstar.test", r"/integrations/?$")
    ui.goto("/llm-keys")
    expect(page.get_by_role("heading", name="LLM Keys", exact=True)).to_be_visible()
    _check(ui, "llm-keys")
    ui.goto("/account/connections")
    expect(page.get_by_role("heading", name="Account connections", exact=True)).to_be_visible()
    _check(ui, "account-connections")
    ui.goto("/oauth-apps")
    expect(page.get_by_role("heading", name="OAuth apps", exact=True)).to_be_visible()
    _check(ui, "oauth-apps")
    page.locator("#oa-add").click()
    expect(page.get_by_role("dialog")).to_contain_text("Add an OAuth app")
    _check(ui, "oauth app editor")
    _close_returns_focus(page, "#oa-add")
    ui.goto("/integrations")
    page.locator("#add-connection").first.click()  # the header's, or an empty list's
    page.get_by_role("dialog").get_by_placeholder("Search apps").fill("custom oauth")
    page.get_by_role("button", name="Custom OAuth 2.0", exact=True).click()
    expect(page.get_by_role("dialog")).to_contain_text("Custom OAuth 2.0")
    _check(ui, "add custom oauth")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.context.clear_cookies()
    _signed_in(ui, "cleo@acme.test", r"/portal/connections/?$")
    _check(ui, "portal")
    ui.goto("/portal/workflows")
    expect(page.locator("#app-main")).to_contain_text("Build and run your own workflows")
    _check(ui, "portal workflows")
    ui.goto(MISSING)
    expect(page.get_by_role("link", name="Back to My connections")).to_be_visible()
    ui.goto("/sign-in")
    expect(page).to_have_url(re.compile(r"/portal/connections/?$"))

    assert not console.messages, "\n".join(console.messages)
    page.context.close()


def _menu(page: Page, width: int) -> None:
    """Under the breakpoint the sidebar is behind a menu button that the keyboard opens."""
    button = page.locator("#nav-toggle")
    if width >= 768:
        expect(button).to_be_hidden()
        expect(page.locator("#sidebar")).to_be_visible()
        return
    expect(page.locator("#sidebar")).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#sidebar")).to_be_visible()
    expect(page.locator("#sidebar").get_by_role("link", name="Builder")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#sidebar")).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_be_focused()


def _shoot(ui: UI, name: str, width: int) -> None:
    _settled(ui.page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{width}.png"
    ui.page.screenshot(path=str(path), full_page=False)
    assert Path(path).stat().st_size > 5_000


@pytest.mark.parametrize("width", WIDTHS)
def test_main_pages_fit_and_are_photographed(
    browser: Browser, live_app: LiveApp, width: int
) -> None:
    ui, console = _open(browser, live_app, width)
    page = ui.page
    ui.goto("/sign-in")
    _check(ui, f"sign-in @{width}")
    _shoot(ui, "sign-in", width)

    _signed_in(ui, "wes@northstar.test", r"/integrations/?$")
    expect(page.locator("#connections-table")).to_contain_text("Stripe (prod)")
    _check(ui, f"integrations @{width}")
    add = page.locator("#add-connection").first
    expect(add).to_be_in_viewport()
    _menu(page, width)
    _shoot(ui, "integrations", width)
    if width < 768:
        page.locator("#nav-toggle").click()
        _shoot(ui, "sidebar-open", width)
        page.keyboard.press("Escape")

    add.click()
    expect(page.locator("#app-search")).to_be_visible()
    _check(ui, f"add dialog @{width}")
    _shoot(ui, "add-catalog", width)
    page.keyboard.press("Escape")

    page.get_by_role("link", name="Stripe (prod)").click()
    expect(page.locator("#details-panel")).to_contain_text("Stable key")
    _check(ui, f"details @{width}")
    _shoot(ui, "details", width)
    page.keyboard.press("Escape")

    for route, name, ready in (
        ("/builder", "builder", "#workflow-name"),
        ("/runs", "runs", "#app-main"),
        ("/audit", "audit", "#audit-table"),
        (MISSING, "not-found", "#not-found"),
    ):
        ui.goto(route)
        expect(page.locator(ready)).to_be_visible()
        _check(ui, f"{name} @{width}")
        _shoot(ui, name, width)

    page.context.clear_cookies()
    _signed_in(ui, "cleo@acme.test", r"/portal/connections/?$")
    _check(ui, f"portal @{width}")
    _shoot(ui, "portal", width)
    ui.goto("/portal/workflows")
    expect(page.locator("#app-main")).to_contain_text("Build and run your own workflows")
    _check(ui, f"portal workflows @{width}")
    _shoot(ui, "portal-workflows", width)
    assert not console.messages, "\n".join(console.messages)
    page.context.close()
