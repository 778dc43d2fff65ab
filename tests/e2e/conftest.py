"""Fixtures for browser tests: the real app (started once per session) driven by
Debian's Chromium through Playwright, with every websocket frame and HTTP response
body recorded so tests can prove what never reached the browser."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from connections_app.standin.overrides import catalog_env
from tests.e2e import scaled_stack
from tests.e2e.live_app import ROOT, LiveApp, build_env, start, stop
from tests.redis_server import redis_server
from tests.standin_fixtures import StandIn, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-results" / "e2e"
DEMO_PASSWORD = "connections-demo"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[scaled_stack.ScaledStack | None]:
    """`make run-scaled`'s whole set when the run asks for it (`E2E_STACK=scaled`)."""
    if not scaled_stack.SELECTED:
        yield None
        return
    with scaled_stack.started(tmp_path_factory.mktemp("scaled")) as stack:
        yield stack


@pytest.fixture(scope="session")
def standin(
    standin: StandIn, scaled: scaled_stack.ScaledStack | None
) -> StandIn:  # the session's stand-in, or the one the scaled set started
    return StandIn(scaled.standin_url) if scaled else standin


@pytest.fixture(scope="session")
def redis_url(
    tmp_path_factory: pytest.TempPathFactory, scaled: scaled_stack.ScaledStack | None
) -> Iterator[str | None]:
    if scaled:
        yield scaled.redis_url
        return
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def live_app(
    standin: StandIn,
    redis_url: str | None,
    scaled: scaled_stack.ScaledStack | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveApp]:
    """The real app, as it scales out when Redis is there: two backend workers, one bus."""
    if scaled:
        yield LiveApp(
            url=scaled.app_url,
            data_dir=scaled.data_dir,
            env=scaled.env(),
            log_path=scaled.log_path,
            redis_url=scaled.redis_url,
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(scaled.log_path, ARTIFACTS / "scaled-app.log")
        return
    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # screenshots of this run only
    port = free_port()
    data_dir = tmp_path_factory.mktemp("app-data")
    env = build_env(port, data_dir, catalog_env(standin.url))
    if redis_url:
        env["REFLEX_REDIS_URL"] = redis_url
        env["GRANIAN_WORKERS"] = "2"
    app = LiveApp(
        url=f"http://localhost:{port}",
        data_dir=data_dir,
        env=env,
        log_path=data_dir / "app.log",
        redis_url=redis_url,
    )
    start(app, port)
    yield app
    stop(app)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(app.log_path, ARTIFACTS / "app.log")


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing (CI requires it; .ci/run installs chromium)")
        pytest.skip(f"{CHROMIUM} not installed")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    instance = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield instance
    instance.close()


@dataclass
class Recorder:
    """Everything the server sent to (and got from) this browser page."""

    frames: list[str] = field(default_factory=list)  # server -> browser
    sent: list[str] = field(default_factory=list)  # browser -> server (form submits)
    bodies: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def text(self) -> str:
        """Everything the browser received: websocket frames and response bodies."""
        return "\n".join(self.frames + self.bodies)


@dataclass
class UI:
    page: Page
    app: LiveApp
    seen: Recorder

    def goto(self, path: str) -> None:
        self.page.goto(self.app.url + path)

    def sign_in(self, email: str, password: str = DEMO_PASSWORD, path: str = "/sign-in") -> None:
        self.goto(path)
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.wait_for_timeout(500)  # let dialog and drawer animations finish
        self.page.screenshot(path=str(path), full_page=True)
        return path


def _dump_socket(seen: Recorder, path: Path) -> None:
    """The last websocket frames each way of a failed test, for reading what the page
    was told (the app's test data only: demo credentials at most)."""
    tail = {"sent": seen.sent[-40:], "received": [f[:2000] for f in seen.frames[-60:]]}
    path.write_text(json.dumps(tail, indent=1))


def _record(page: Page, seen: Recorder) -> None:
    def on_socket(ws) -> None:  # type: ignore[no-untyped-def]
        ws.on("framereceived", lambda payload: seen.frames.append(str(payload)))
        ws.on("framesent", lambda payload: seen.sent.append(str(payload)))

    def on_response(response) -> None:  # type: ignore[no-untyped-def]
        kind = response.headers.get("content-type", "")
        if any(t in kind for t in ("json", "text", "javascript")):
            # Bodies of redirects and aborted loads are not available; nothing to record.
            with contextlib.suppress(Exception):
                seen.bodies.append(response.text())

    page.on("websocket", on_socket)
    page.on("response", on_response)
    page.on("popup", lambda popup: _record(popup, seen))  # the OAuth window too
    page.on(
        "console",
        lambda msg: seen.console_errors.append(msg.text) if msg.type == "error" else None,
    )


@pytest.fixture
def ui(browser: Browser, live_app: LiveApp, request: pytest.FixtureRequest) -> Iterator[UI]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    seen = Recorder()
    _record(page, seen)
    yield UI(page=page, app=live_app, seen=seen)
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"), full_page=True)
        _dump_socket(seen, ARTIFACTS / f"FAILED-{request.node.name}.frames.json")
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def other(browser: Browser, ui: UI, request: pytest.FixtureRequest) -> Iterator[UI]:
    """A second person's browser on the same app, recorded like the first."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    seen = Recorder()
    _record(page, seen)
    yield UI(page=page, app=ui.app, seen=seen)
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:  # what the second browser showed, too
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = f"FAILED-{request.node.name}-other"
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        _dump_socket(seen, ARTIFACTS / f"{name}.frames.json")
    context.close()
