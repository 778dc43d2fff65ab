"""`POST /auth/sign-in` on a real database, through the real Starlette routes (httpx's
ASGI transport, so each request can come from a chosen client address): hostile
forms, the throttle's redirect, forwarded addresses, and argon2 off the event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.applications import Starlette

from connections_app.core.db import reset_engine
from connections_app.core.identity import service as identity
from connections_app.core.identity import throttle
from connections_app.core.identity.models import SignInThrottle, UserSession
from connections_app.core.settings import get_settings
from connections_app.http import auth_routes
from tests.conftest import PASSWORD

APP = "http://app.test"
_n = iter(range(1, 1_000_000))


@pytest.fixture
def app(db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Starlette]:
    monkeypatch.setenv("REFLEX_DB_URL", db_url)
    monkeypatch.setenv("CONNECTIONS_APP_URL", APP)
    monkeypatch.setenv("REFLEX_API_URL", APP)
    monkeypatch.delenv("CONNECTIONS_TRUSTED_PROXIES", raising=False)
    get_settings.cache_clear()
    reset_engine()
    yield Starlette(routes=auth_routes.routes)


@pytest.fixture
def person(engine: Engine) -> str:
    email = f"route-{next(_n)}@example.test"
    with Session(engine) as db:
        identity.create_user(db, email=email, name="Route", password=PASSWORD)
    return email


def fresh_address() -> str:
    n = next(_n)
    return f"203.0.{n // 250}.{n % 250 + 1}"


def client_for(app: Starlette, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)),
        base_url=APP,
        headers={"Origin": APP},
        follow_redirects=False,
    )


@pytest.fixture
async def browser(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, fresh_address()) as client:
        yield client


def where_to(response: httpx.Response) -> tuple[str, dict[str, list[str]]]:
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    return location.path, parse_qs(location.query)


def counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as db:
        return (
            db.exec(select(func.count()).select_from(SignInThrottle)).one(),
            db.exec(select(func.count()).select_from(UserSession)).one(),
        )


async def test_right_password_sets_the_session_cookie(
    browser: httpx.AsyncClient, person: str
) -> None:
    response = await browser.post(
        "/auth/sign-in", data={"email": person, "password": PASSWORD, "next": "/integrations"}
    )
    assert where_to(response) == ("/integrations", {})
    cookie = response.headers["set-cookie"]
    assert "cx_session=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    browser: httpx.AsyncClient, person: str
) -> None:
    answers = set()
    for email in (person, f"ghost-{next(_n)}@example.test"):
        response = await browser.post(
            "/auth/sign-in", data={"email": email, "password": "not-the-password", "next": "/x"}
        )
        assert "set-cookie" not in response.headers
        answers.add(response.headers["location"])
    assert answers == {f"{APP}/sign-in?error=invalid&next=/x"}


HOSTILE: list[tuple[str, dict[str, object]]] = [
    ("no body", {}),
    ("json", {"json": {"email": "a@b.test", "password": PASSWORD}}),
    ("multipart", {"files": {"email": ("e", b"a@b.test"), "password": ("p", b"x")}}),
    ("too big", {"data": {"email": "a@b.test", "password": "x" * 9000}}),
    ("chunked", {}),  # no Content-Length: the body arrives in pieces of unknown size
    ("duplicate field", {"content": b"email=a%40b.test&email=c%40d.test&password=xxxxxxxxxxxx"}),
    ("not UTF-8", {"content": b"email=%ff%fe%40b.test&password=xxxxxxxxxxxx"}),
    ("raw bytes", {"content": b"email=\xff\xfe&password=xxxxxxxxxxxx"}),
    ("too many fields", {"content": b"&".join(b"f%d=1" % i for i in range(10))}),
]


@pytest.mark.parametrize(("case", "request_kwargs"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_odd_forms_get_a_clear_message_and_change_nothing(
    browser: httpx.AsyncClient, engine: Engine, case: str, request_kwargs: dict[str, object]
) -> None:
    headers = {}
    if case == "chunked":

        async def pieces() -> AsyncIterator[bytes]:
            yield b"email=a%40b.test&"
            yield b"password=xxxxxxxxxxxx"

        request_kwargs = {"content": pieces()}
    if "content" in request_kwargs:
        headers["content-type"] = "application/x-www-form-urlencoded"
    before = counts(engine)
    response = await browser.post("/auth/sign-in", headers=headers, **request_kwargs)  # type: ignore[arg-type]
    assert where_to(response) == ("/sign-in", {"error": ["form"]})
    assert "set-cookie" not in response.headers
    assert "Traceback" not in response.text
    assert counts(engine) == before


@pytest.mark.parametrize(
    "form",
    [
        {"next": "/"},
        {"email": "a@b.test"},
        {"password": PASSWORD},
        {"email": "", "password": ""},
        {"email": "x" * 5000, "password": PASSWORD},
        {"email": "a\x00@b.test", "password": PASSWORD},
        {"email": "a@b.test", "password": "p" * 300},
        {"email": "not-an-email", "password": PASSWORD},
    ],
    ids=[
        "no fields",
        "no password",
        "no email",
        "blank",
        "huge email",
        "NUL",
        "huge password",
        "odd",
    ],
)
async def test_missing_or_malformed_fields_are_refused_without_any_work(
    browser: httpx.AsyncClient, engine: Engine, form: dict[str, str]
) -> None:
    before = counts(engine)
    response = await browser.post("/auth/sign-in", data=form)
    assert where_to(response) == ("/sign-in", {"error": ["invalid"], "next": ["/"]})
    assert "set-cookie" not in response.headers
    assert counts(engine) == before  # not even a throttle row


@pytest.fixture
def still_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold the sign-in clock still: a 1 s wait must not run out between two attempts
    of a test on a loaded machine (argon2 alone can take that long there)."""
    now = identity.utcnow()
    monkeypatch.setattr(identity, "utcnow", lambda: now)


@pytest.mark.usefixtures("still_clock")
async def test_a_throttled_client_is_sent_back_with_the_wait(
    app: Starlette, person: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with client_for(app, fresh_address()) as guesser:
        for n in range(throttle.CLIENT.free + 1):
            response = await guesser.post(
                "/auth/sign-in", data={"email": person, "password": f"guess-number-{n}"}
            )
            assert where_to(response)[1]["error"] == ["invalid"]
        response = await guesser.post(
            "/auth/sign-in", data={"email": person, "password": PASSWORD, "next": "/builder"}
        )
        assert where_to(response) == (
            "/sign-in",
            {"error": ["throttled"], "wait": ["1"], "next": ["/builder"]},
        )
        assert response.headers["retry-after"] == "1"
        assert "set-cookie" not in response.headers
    # Someone else, elsewhere, is not held up by that client.
    async with client_for(app, fresh_address()) as owner:
        response = await owner.post("/auth/sign-in", data={"email": person, "password": PASSWORD})
        assert where_to(response) == ("/", {})
    for n in range(throttle.CLIENT.free + 1):
        assert f"guess-number-{n}" not in caplog.text
    assert PASSWORD not in caplog.text


async def test_argon2_and_the_database_run_off_the_event_loop(
    browser: httpx.AsyncClient, person: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    real = identity.authenticate

    def spy(*args: object, **kwargs: object) -> object:
        try:
            asyncio.get_running_loop()
            seen.append(True)
        except RuntimeError:
            seen.append(False)  # a worker thread: no event loop to stall
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(identity, "authenticate", spy)
    for password in ("not-the-password", PASSWORD):
        await browser.post("/auth/sign-in", data={"email": person, "password": password})
    assert seen == [False, False]


@pytest.mark.usefixtures("still_clock")
async def test_forwarded_addresses_count_only_behind_a_trusted_proxy(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail_until_throttled(client: httpx.AsyncClient, forwarded: str) -> int:
        for n in range(1, 20):
            response = await client.post(
                "/auth/sign-in",
                data={"email": f"ghost-{next(_n)}@example.test", "password": "guess-123456"},
                headers={"X-Forwarded-For": forwarded},
            )
            if where_to(response)[1]["error"] == ["throttled"]:
                return n
        raise AssertionError("never throttled")

    # No trusted proxy: the header is anyone's to write and is ignored.
    async with client_for(app, fresh_address()) as direct:
        first = await fail_until_throttled(direct, "192.0.2.1")
        response = await direct.post(
            "/auth/sign-in",
            data={"email": "someone@example.test", "password": "guess-123456"},
            headers={"X-Forwarded-For": f"192.0.2.{next(_n) % 250 + 2}"},
        )
        assert where_to(response)[1]["error"] == ["throttled"]
    assert first == throttle.CLIENT.free + 2

    # Behind a trusted proxy, the right-most untrusted hop is the client.
    monkeypatch.setenv("CONNECTIONS_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
    get_settings.cache_clear()
    async with client_for(app, "10.1.2.3") as proxy:
        spoofed = "1.2.3.4, 198.51.100.7, 10.9.9.9"  # 1.2.3.4 came from the client itself
        assert await fail_until_throttled(proxy, spoofed) == throttle.CLIENT.free + 2
        response = await proxy.post(
            "/auth/sign-in",
            data={"email": "someone@example.test", "password": "guess-123456"},
            headers={"X-Forwarded-For": "9.9.9.9, 198.51.100.8, 10.9.9.9"},
        )
        assert where_to(response)[1]["error"] == ["invalid"]  # another client: not throttled
        response = await proxy.post(
            "/auth/sign-in",
            data={"email": "someone@example.test", "password": "guess-123456"},
            headers={"X-Forwarded-For": "5.6.7.8, 198.51.100.7"},
        )
        assert where_to(response)[1]["error"] == ["throttled"]  # the same client again
