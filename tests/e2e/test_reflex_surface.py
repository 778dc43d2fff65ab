"""Issue 10 against the real app (two workers on Redis when redis-server is installed):
what a client can make Reflex log, hydrate or store, and what every response carries.

Each test first shows the attack reaches the real thing (a control that succeeds),
then that the finding is refused. Raw sockets (tests/e2e/raw_socket.py) act as a
script can: any Origin or none, any cookie or none, any event name and payload.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import json
import re
import stat
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD, UI
from tests.e2e.live_app import LiveApp
from tests.e2e.raw_socket import STATE, RawSocket, Refused, hydrate
from tests.redis_server import dump as redis_dump

FRONTEND_EXCEPTION = (
    f"{STATE}.reflex___state____frontend_event_exception_state.handle_frontend_exception"
)
WES = "wes@northstar.test"
# What Wes's tab holds after /integrations: his name and email, workspace, a
# connection label and its masked tail.
WES_READ_MODELS = ("Wes Workspace", WES, "Acme Corp", "Stripe (prod)", "4242")


def _cookie(ui: UI) -> str:
    return next(c for c in ui.page.context.cookies() if c["name"] == "cx_session")["value"]


def _ref(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _sign_in_over_http(app: LiveApp, email: str) -> str:
    response = httpx.post(
        f"{app.url}/auth/sign-in",
        data={"email": email, "password": DEMO_PASSWORD},
        headers={"Origin": app.url},
    )
    assert response.status_code == 303, response.text
    return response.cookies["cx_session"]


def _socket(app: LiveApp, token: str, cookie: str | None, boot: bool = True) -> RawSocket:
    return RawSocket.open(
        app.url,
        token=token,
        origin=app.url,
        cookie=f"cx_session={cookie}" if cookie else None,
        boot_event=hydrate("/integrations") if boot else None,
    )


def _spellings(value: str) -> list[str]:
    raw = value.encode()
    return [value, base64.b64encode(raw).decode().rstrip("="), raw.hex()]


def _log_lines(app: LiveApp) -> list[str]:
    return app.log_text().splitlines()


# --- finding 3: credentials in the log through unknown handlers and bad arguments ------


def test_unknown_handlers_and_bad_arguments_log_names_only(ui: UI) -> None:
    ui.sign_in(WES)
    expect(ui.page.get_by_role("heading", name="Integrations")).to_be_visible()
    cookie = _cookie(ui)
    canary = "arg-canary-" + uuid.uuid4().hex
    unknown = f"{STATE}.no_such_handler_{uuid.uuid4().hex[:8]}"

    sock = _socket(ui.app, str(uuid.uuid4()), cookie)
    sock.pump(20, until=lambda s: "Stripe (prod)" in s.text() and _hydrated(s))
    assert "Stripe (prod)" in sock.text(), "a signed-in socket"
    sock.send_event(unknown, {"password": canary})
    # `set_is_hydrated(value: bool)`: form data that cannot become a dict fails coercion.
    sock.send_event(
        f"{STATE}.set_is_hydrated", {"value": {"__reflex_form_data__": [[canary, canary, 1]]}}
    )
    sock.pump(2)
    sock.close()
    for _ in range(30):  # until both records are written
        log = ui.app.log_text()
        if unknown in log and "could not be coerced" in log:
            break
        ui.page.wait_for_timeout(500)

    for value in (cookie, _ref(cookie), canary):
        for spelling in _spellings(value):
            assert spelling not in log, "a credential or argument value reached the log"
    named = [json.loads(line) for line in _log_lines(ui.app) if unknown in line]
    assert named, "the unknown handler is logged by name"
    assert all("router_data" not in r["message"] and "payload" not in r["message"] for r in named)
    assert any(
        "could not be coerced" in json.loads(line)["message"]
        for line in _log_lines(ui.app)
        if "set_is_hydrated" in line
    )


# --- finding 6: a gone tab's token, and sockets from other origins ---------------------


def test_a_gone_tabs_token_hydrates_nothing_of_the_previous_person(ui: UI) -> None:
    tab = ui.page.context.browser.new_context().new_page()  # type: ignore[union-attr]
    gone = UI(page=tab, app=ui.app, seen=ui.seen)
    gone.sign_in(WES)
    expect(tab.get_by_role("table")).to_contain_text("Stripe (prod)")
    cookie = _cookie(gone)
    token = tab.evaluate("window.sessionStorage.getItem('token')")
    assert token
    tab.context.close()  # the tab is gone; its token and its stored state remain
    ui.page.wait_for_timeout(1000)

    def reload_as_wes() -> None:
        """Control: with Wes's cookie the token does address his stored state. Waits for
        the page's on_load chain to finish (Reflex then sets is_hydrated): closing the
        socket in the middle of it can leave the tab's state lock to its expiry."""
        sock = _socket(ui.app, token, cookie)
        sock.pump(30, until=lambda s: "Stripe (prod)" in s.text() and _hydrated(s))
        sock.close()
        ui.page.wait_for_timeout(1000)  # let the server forget the socket before the next
        assert "new_token" not in sock.text(), "the token was free to reuse"
        assert "Stripe (prod)" in sock.text()

    reload_as_wes()
    reload_as_wes()  # now the snapshot itself holds Wes's read-models
    vic = _sign_in_over_http(ui.app, "vic@northstar.test")
    for other in (None, vic):
        sock = _socket(ui.app, token, other)
        sock.pump(30, until=lambda s: len(s.updates) > 0)
        snapshot = json.dumps(sock.updates[0]) if sock.updates else ""
        sock.pump(10, until=_hydrated_or_sent_away)
        sock.close()
        ui.page.wait_for_timeout(1000)
        assert "new_token" not in sock.text(), "the same token, so the same stored state"
        assert snapshot, "the hydrate answered"
        for value in WES_READ_MODELS if other is None else WES_READ_MODELS[:2]:
            assert value not in snapshot, f"{value!r} reached a socket without Wes's session"
        if other is None:
            for value in WES_READ_MODELS:  # nor anything the page loads afterwards
                assert value not in sock.text()
        reload_as_wes()


def _hydrated(sock: RawSocket) -> bool:
    return re.search(r'"is_hydrated_rx_state_":\s*true', sock.text()) is not None


def _hydrated_or_sent_away(sock: RawSocket) -> bool:
    return _hydrated(sock) or "sign-in" in sock.text()


@pytest.mark.parametrize("origin", [None, "https://evil.example", "null"])
def test_websockets_from_other_origins_are_refused(live_app: LiveApp, origin: str | None) -> None:
    with pytest.raises(Refused) as refused:
        RawSocket.open(live_app.url, token=str(uuid.uuid4()), origin=origin)
    assert refused.value.status == 403
    own = RawSocket.open(live_app.url, token=str(uuid.uuid4()), origin=live_app.url)
    own.pump(10, until=lambda s: any(p.startswith("40") for p in s.received))
    own.close()
    assert any(p.startswith("40/_event") for p in own.received), "the app's own origin works"


# --- finding 7: headers -----------------------------------------------------------------


def _assert_page_headers(response: httpx.Response) -> str:
    csp = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert response.headers.get("x-frame-options") == "DENY"
    assert response.headers.get("x-content-type-options") == "nosniff"
    policies = {"strict-origin-when-cross-origin", "no-referrer"}
    assert response.headers.get("referrer-policy") in policies
    return csp


def test_pages_routes_and_the_oauth_callback_carry_the_security_headers(
    live_app: LiveApp,
) -> None:
    page = httpx.get(f"{live_app.url}/sign-in", follow_redirects=True)
    csp = _assert_page_headers(page)
    assert "script-src 'self' 'unsafe-eval' 'sha256-" in csp
    assert f"connect-src 'self' {live_app.url} {live_app.url.replace('http', 'ws')}" in csp
    _assert_page_headers(httpx.get(f"{live_app.url}/healthz"))
    ready = httpx.get(f"{live_app.url}/readyz")
    _assert_page_headers(ready)
    checks = {"database": True, "migrations": True, "vault": True}
    if live_app.redis_url:  # two workers on Redis: the readiness answer includes it
        checks["redis"] = True
    assert ready.json() == {"ready": True, "checks": checks}
    _assert_page_headers(httpx.get(f"{live_app.url}/_health"))  # one of Reflex's own

    callback = httpx.get(f"{live_app.url}/oauth/callback", params={"state": "x", "code": "y"})
    policy = _assert_page_headers(callback)
    assert callback.headers["referrer-policy"] == "no-referrer"
    script = re.search(r"<script>(.*?)</script>", callback.text, re.S)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy  # exactly its one inline script
    assert "onclick" not in callback.text  # no inline handlers (the policy would block them)


def test_the_app_runs_under_its_policy(ui: UI) -> None:
    violations: list[str] = []
    ui.page.context.add_init_script(
        "window.addEventListener('securitypolicyviolation', e => "
        "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    ui.page.on("console", lambda m: violations.append(m.text) if "violat" in m.text else None)
    ui.sign_in("ada@northstar.test")
    expect(ui.page.get_by_role("table")).to_be_visible()
    for path, heading in (
        ("/builder", "Builder"),
        ("/runs", "Runs"),
        ("/audit", "Audit log"),
        ("/llm-keys", "LLM Keys"),
        ("/integrations", "Integrations"),
    ):
        ui.goto(path)
        expect(ui.page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    ui.page.locator("#workspace-switcher").click()  # a Radix portal and a toast-free path
    ui.page.keyboard.press("Escape")
    ui.page.wait_for_timeout(500)
    assert not violations, violations
    assert not [e for e in ui.seen.console_errors if "Content Security Policy" in e]


def test_no_other_site_can_frame_the_app(ui: UI) -> None:
    """A page of another origin on loopback (a public one would be stopped by Chrome's
    private-network rules before our headers matter) frames the sign-in page."""
    with _framing_site(f"{ui.app.url}/sign-in") as site:
        refusals: list[str] = []
        ui.page.on("console", lambda m: refusals.append(m.text) if "frame" in m.text else None)
        ui.page.goto(site)
        ui.page.wait_for_timeout(2000)
    child = ui.page.frames[1]
    assert child.url.startswith("chrome-error://"), child.url
    assert any("frame-ancestors 'none'" in r for r in refusals), refusals


@contextlib.contextmanager
def _framing_site(target: str) -> Iterator[str]:
    body = f'<!doctype html><iframe id="f" src="{target}" width="800"></iframe>'.encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# --- finding 8: no session credential at rest -------------------------------------------


def test_the_state_store_holds_no_session_cookie(ui: UI, live_app: LiveApp) -> None:
    ui.sign_in(WES)
    expect(ui.page.get_by_role("table")).to_contain_text("Stripe (prod)")
    other = ui.page.context.browser.new_context().new_page()  # type: ignore[union-attr]
    other.goto(live_app.url + "/sign-in")
    other.get_by_label("Email").fill("bea@northstar.test")
    other.get_by_label("Password").fill(DEMO_PASSWORD)
    other.get_by_role("button", name="Sign in").click()
    expect(other.get_by_role("table")).to_contain_text("Stripe (prod)")
    other.goto(live_app.url + "/builder")
    expect(other.get_by_role("heading", name="Builder")).to_be_visible()
    cookies = [
        _cookie(ui),
        next(c for c in other.context.cookies() if c["name"] == "cx_session")["value"],
    ]
    other.context.close()

    def stored_text() -> str:
        if live_app.redis_url:
            return redis_dump(live_app.redis_url)
        files = [p for p in live_app.states_dir.rglob("*") if p.is_file()]
        return "".join(p.read_bytes().decode("latin-1") for p in files)

    stored = stored_text()
    for _ in range(20):  # the disk manager writes after a short debounce
        if all(_ref(c) in stored for c in cookies):
            break
        ui.page.wait_for_timeout(500)
        stored = stored_text()
    if not live_app.redis_url:
        files = [p for p in live_app.states_dir.rglob("*") if p.is_file()]
        assert files, f"no state files under {live_app.states_dir}"
        assert stat.S_IMODE(live_app.states_dir.stat().st_mode) == 0o700
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert "Stripe (prod)" in stored, "the dump reads the stored read-models"
    for cookie in cookies:
        for spelling in _spellings(cookie):
            assert spelling not in stored, "a usable session cookie is at rest"
        assert _ref(cookie) in stored, "the stored handshake holds the reference instead"


def test_a_reference_read_from_the_store_signs_nobody_in(ui: UI, live_app: LiveApp) -> None:
    ui.sign_in(WES)
    expect(ui.page.get_by_role("table")).to_contain_text("Stripe (prod)")
    ref = _ref(_cookie(ui))
    for cookie in (f"cx_session_ref={ref}", f"cx_session={ref}"):
        page = httpx.get(f"{live_app.url}/oauth/start?app=slack", headers={"Cookie": cookie})
        assert page.status_code == 401  # HTTP routes want the token itself
        sock = RawSocket.open(
            live_app.url,
            token=str(uuid.uuid4()),
            origin=live_app.url,
            cookie=cookie,
            boot_event=hydrate("/integrations"),
        )
        sock.pump(20, until=lambda s: "sign-in" in s.text())
        sock.close()
        assert "Stripe (prod)" not in sock.text() and WES not in sock.text()
        assert "sign-in" in sock.text(), "sent to sign in"


# --- finding 10: forged log lines -------------------------------------------------------


def test_browser_reports_cannot_forge_log_lines(live_app: LiveApp) -> None:
    marker = "forged-" + uuid.uuid4().hex[:8]
    forged = (
        'boom\n{"time": "2026-01-01T00:00:00.000+00:00", "level": "ERROR", '
        f'"logger": "forged", "message": "{marker}"}}\n\x00\x1b[31mred\x1b[0m' + "x" * 50_000
    )
    sock = RawSocket.open(
        live_app.url, token=str(uuid.uuid4()), origin=live_app.url, boot_event=hydrate("/")
    )
    sock.pump(20, until=lambda s: len(s.updates) > 0)
    sock.send_event(FRONTEND_EXCEPTION, {"info": forged, "component_stack": forged}, "/")
    sock.emit("client_error", {"error_type": "render", "message": forged})
    sock.pump(2)
    sock.close()
    for _ in range(30):  # until both reports are written
        text = live_app.log_text()
        if text.count(marker) >= 2:
            break
        time.sleep(0.5)
    assert "\x00" not in text and "\x1b" not in text
    carrying = [line for line in text.splitlines() if marker in line]
    assert len(carrying) == 2, carrying  # one line per report, nothing of its own
    for line in carrying:
        record = json.loads(line)
        assert record["logger"] == "connections_app.ui.reflex_logging"
        assert len(line) < 5_000
    backend = _backend_lines(text)
    for line in backend:
        record = json.loads(line)  # every line of the backend is one JSON object
        assert record.get("logger") != "forged"


def _backend_lines(text: str) -> list[str]:
    """The log from the moment the backend serves. Before it, the `reflex run` CLI
    prints its banner and build progress with rich (not through logging): that is the
    CLI's own output, not the backend's, and stays plain text."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "App running at" in line)
    return [line for line in lines[start + 1 :] if line.strip()]
