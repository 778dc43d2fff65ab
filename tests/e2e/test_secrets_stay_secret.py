"""The hostile review's read-back paths, tried again in real browsers against the real
app, and now refused:

- an admin moves a builder's personal Custom API key connection to another
  endpoint and presses Test: the secret is cleared, nothing reaches the endpoint;
- a run step against an endpoint that echoes its request: the stored result and a
  viewer's websocket frames hold masks only;
- a connection pointed at another loopback address: refused with a clear message;
- a 6 s slow provider under Test does not hold up another person's sign-in.

Every flow ends with the canary nowhere: websocket frames and bodies of every
browser involved, the app log, Reflex's state store and the database.
"""

from __future__ import annotations

import json
import secrets
import statistics
import threading
import time

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine

from connections_app.standin.overrides import custom_base_url
from tests.e2e.conftest import UI
from tests.e2e.test_integrations import assert_nowhere, open_menu, table, unique
from tests.integration.dbdump import dump, leaks
from tests.standin_fixtures import StandIn, free_port


def canary() -> str:
    return f"cx-e2e-canary-{secrets.token_hex(10)}"


def _nowhere(value: str, *people: UI) -> None:
    for person in people:
        assert_nowhere(person, value)
    engine = create_engine(people[0].app.env["REFLEX_DB_URL"])
    try:
        assert not leaks(dump(engine), value), "in the database"
    finally:
        engine.dispose()


def _add_custom(
    page: Page,
    *,
    label: str,
    base_url: str,
    key: str,
    sharing: str = "Team · use",
    test_path: str = "/me",
    stable_key: str | None = None,
) -> None:
    page.get_by_role("button", name="Add connection").first.click()
    page.get_by_placeholder("Search apps").fill("custom api")
    page.get_by_role("button", name="Custom API key", exact=True).click()
    page.locator("#add-label").fill(label)
    if stable_key:
        page.locator("#add-stable_key").fill(stable_key)
    page.locator("#add-base_url").fill(base_url)
    page.locator("#add-header_name").fill("X-Api-Key")
    page.locator("#add-test_path").fill(test_path)
    page.locator("#add-api_key").fill(key)
    if sharing != "Team · use":
        page.locator("#add-sharing").click()
        page.get_by_role("option", name=sharing).click()


def test_an_admin_who_moves_a_builders_secret_gets_nothing(
    ui: UI, other: UI, standin: StandIn
) -> None:
    key = canary()
    standin.control("PUT", "/credentials/custom", {"header": "X-Api-Key", "value": key})
    label = unique("Bea's own API")

    # Bea keeps a personal key, tested and saved.
    bea = other.page
    other.sign_in("bea@northstar.test")
    expect(table(bea)).to_be_visible()
    _add_custom(
        bea, label=label, base_url=custom_base_url(standin.url), key=key, sharing="Personal"
    )
    bea.locator("#add-test").click()
    expect(bea.locator("#add-test-result")).to_contain_text("Credentials are valid")
    bea.locator("#add-save").click()
    expect(table(bea).get_by_role("row").filter(has_text=label)).to_contain_text("Active")

    # Wes, workspace admin, points it at an endpoint of his and presses Test.
    wes = ui.page
    ui.sign_in("wes@northstar.test")
    row = table(wes).get_by_role("row").filter(has_text=label)
    expect(row).to_contain_text("Personal")
    open_menu(wes, label)
    wes.get_by_role("menuitem", name="Edit").click()
    expect(wes.locator("#edit-destination-note")).to_contain_text("only where it was entered")
    wes.locator("#edit-base_url").fill(standin.url + "/echo/wes")
    ui.shot("edit-destination")
    wes.locator("#edit-save").click()
    expect(wes.get_by_text("The destination was changed by wes@northstar.test")).to_be_visible()
    expect(row).to_contain_text("Pending")
    table(wes).get_by_role("link", name=label).click()
    panel = wes.locator("#details-panel")
    panel.locator("#details-test").click()
    expect(panel.locator("#details-test-result")).to_contain_text("No credential is stored")
    panel.locator("#details-test").click()  # the panel is usable again at once
    expect(panel.locator("#details-test-result")).to_contain_text("No credential is stored")
    ui.shot("destination-test-refused")

    assert standin.control("GET", "/captured").json() == [], "nothing reached Wes's endpoint"
    # Bea sees what happened, live, without reloading.
    expect(table(bea).get_by_role("row").filter(has_text=label)).to_contain_text(
        "Pending", timeout=5_000
    )
    _nowhere(key, ui, other)


def _import_echo_workflow(ui: UI, name: str, stable_key: str) -> None:
    document = {
        "format": "connections.workflow",
        "version": 1,
        "name": name,
        "nodes": [
            {
                "label": "Reflect",
                "app": "custom_api_key",
                "action": "http_request",
                "auth_kind": None,
                "params": {"path": "/reflect", "body": '{"hello": "world"}'},
                "connection": stable_key,
            }
        ],
    }
    result = ui.app.admin(
        "workflow",
        "import",
        "--account",
        "northstar",
        "--workspace",
        "acme",
        "--user",
        "wes@northstar.test",
        "--file",
        "-",
        stdin=json.dumps(document),
    )
    assert result.returncode == 0, result.stderr
    assert "1 bound" in result.stdout


def test_an_echoing_endpoint_shows_masks_to_a_viewer(ui: UI, other: UI, standin: StandIn) -> None:
    key = canary()
    label = unique("Echo service")
    stable_key = f"echo-{secrets.token_hex(3)}"
    wes = ui.page
    ui.sign_in("wes@northstar.test")
    expect(table(wes)).to_be_visible()
    _add_custom(
        wes,
        label=label,
        base_url=standin.url + "/echo",
        key=key,
        test_path="/",
        stable_key=stable_key,
    )
    wes.locator("#add-save").click()
    expect(table(wes).get_by_role("row").filter(has_text=label)).to_contain_text("Active")

    name = unique("Echo run")
    _import_echo_workflow(ui, name, stable_key)
    ui.goto("/builder")
    wes.locator(".cx-workflow-item", has_text=name).first.click()
    expect(wes.locator("#workflow-name")).to_have_text(name)
    wes.locator("#run-live").click()
    latest = wes.locator("#latest-run")
    expect(latest).to_have_attribute("data-status", "succeeded", timeout=20_000)
    captured = standin.control("GET", "/captured").json()
    assert captured and captured[-1]["headers"]["x-api-key"] == key, "the echo got the key"

    vic = other.page
    other.sign_in("vic@northstar.test")
    other.goto("/runs")
    run = vic.locator(".cx-run", has_text=name).first
    expect(run).to_contain_text("••••")
    ui.shot("echo-run-masked")
    _nowhere(key, ui, other)


def test_a_destination_on_another_loopback_port_is_refused(ui: UI, standin: StandIn) -> None:
    key = canary()
    port = free_port()
    page = ui.page
    ui.sign_in("wes@northstar.test")
    expect(table(page)).to_be_visible()
    _add_custom(page, label=unique("Internal"), base_url=f"http://127.0.0.2:{port}", key=key)
    page.locator("#add-test").click()
    result = page.locator("#add-test-result")
    expect(result).to_contain_text("may not send requests to 127.0.0.2")
    expect(result).to_contain_text("loopback")
    ui.shot("egress-refused")
    _nowhere(key, ui)


def _sign_in_seconds(url: str, email: str) -> float:
    started = time.perf_counter()
    response = httpx.post(
        f"{url}/auth/sign-in",
        data={"email": email, "password": "connections-demo", "next": "/"},
        headers={"Origin": url},
        follow_redirects=False,
        timeout=30,
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 303 and "cx_session" in response.headers.get("set-cookie", "")
    return elapsed


def test_a_slow_provider_does_not_hold_up_anyone_elses_sign_in(ui: UI, standin: StandIn) -> None:
    key = canary()
    standin.control("PUT", "/credentials/custom", {"header": "X-Api-Key", "value": key})
    label = unique("Slow API")
    page = ui.page
    ui.sign_in("wes@northstar.test")
    expect(table(page)).to_be_visible()
    _add_custom(page, label=label, base_url=custom_base_url(standin.url), key=key)
    page.locator("#add-save").click()
    expect(table(page).get_by_role("row").filter(has_text=label)).to_contain_text("Active")

    baseline = statistics.median(
        _sign_in_seconds(ui.app.url, "bea@northstar.test") for _ in range(3)
    )
    standin.set_mode("custom", "slow", seconds=6.0)
    table(page).get_by_role("link", name=label).click()
    panel = page.locator("#details-panel")
    panel.locator("#details-test").click()
    time.sleep(1.0)  # the Test is now waiting on the provider
    during: list[float] = []
    worker = threading.Thread(
        target=lambda: during.extend(
            _sign_in_seconds(ui.app.url, "bea@northstar.test") for _ in range(3)
        )
    )
    worker.start()
    worker.join(timeout=30)
    expect(panel.locator("#details-test-result")).to_contain_text(
        "Credentials are valid", timeout=15_000
    )
    standin.set_mode("custom", "ok")
    delay = statistics.median(during) - baseline
    assert delay < 0.2, f"sign-in took {delay * 1000:.0f} ms longer during a slow Test"


def test_a_builder_with_manage_cannot_move_an_admins_secret(
    ui: UI, other: UI, standin: StandIn
) -> None:
    key = canary()
    standin.control("PUT", "/credentials/custom", {"header": "X-Api-Key", "value": key})
    label = unique("Wes's shared API")
    wes = ui.page
    ui.sign_in("wes@northstar.test")
    expect(table(wes)).to_be_visible()
    _add_custom(
        wes, label=label, base_url=custom_base_url(standin.url), key=key, sharing="Team · manage"
    )
    wes.locator("#add-save").click()
    expect(table(wes).get_by_role("row").filter(has_text=label)).to_contain_text("Active")

    # Bea may manage it: she changes how the key is sent (its header) and presses Test.
    bea = other.page
    other.sign_in("bea@northstar.test")
    open_menu(bea, label)
    bea.get_by_role("menuitem", name="Edit").click()
    bea.locator("#edit-header_name").fill("X-Echo-Me")
    bea.locator("#edit-base_url").fill(standin.url + "/echo/bea")
    bea.locator("#edit-save").click()
    expect(bea.get_by_text("The destination was changed by bea@northstar.test")).to_be_visible()
    table(bea).get_by_role("link", name=label).click()
    panel = bea.locator("#details-panel")
    panel.locator("#details-test").click()
    expect(panel.locator("#details-test-result")).to_contain_text("No credential is stored")
    assert standin.control("GET", "/captured").json() == []
    expect(table(wes).get_by_role("row").filter(has_text=label)).to_contain_text(
        "Pending", timeout=5_000
    )
    _nowhere(key, ui, other)
