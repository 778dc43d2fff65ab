"""`/invite/<token>` on a real database through the real Starlette routes: the page,
accepting (new person, existing account), hostile forms, other origins, and links
that cannot be used. Nothing is written unless the invitation is accepted."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.applications import Starlette

from connections_app.core import redaction
from connections_app.core.db import reset_engine
from connections_app.core.identity import invitations
from connections_app.core.identity import service as identity
from connections_app.core.settings import get_settings
from connections_app.http import invite_routes
from tests.conftest import PASSWORD, World
from tests.integration.dbdump import dump

APP = "http://app.test"
API = "http://api.test"
NEW_PASSWORD = "a-fresh-portal-password"


@pytest.fixture
def app(db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Starlette]:
    monkeypatch.setenv("REFLEX_DB_URL", db_url)
    monkeypatch.setenv("CONNECTIONS_APP_URL", APP)
    monkeypatch.setenv("REFLEX_API_URL", API)
    get_settings.cache_clear()
    reset_engine()
    yield Starlette(routes=invite_routes.routes)


@pytest.fixture
async def browser(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("198.51.100.20", 40000)),
        base_url=API,
        headers={"Origin": API},
        follow_redirects=False,
    ) as client:
        yield client


def new_invitation(engine: Engine, world: World, email: str | None = None) -> tuple[str, str]:
    address = email or f"route-invitee-{os.urandom(3).hex()}@client.test"
    with Session(engine, expire_on_commit=False) as db:
        made = invitations.invite(db, world.actors["admin1"], address, "Rita <b>Route</b>")
    return made.token, address


def form(**overrides: str) -> dict[str, str]:
    return {"name": "Rita Route", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD, **overrides}


def assert_page_headers(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "strict-origin"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script" not in response.text.lower()


async def test_the_page_names_agency_workspace_and_email_escaped(
    browser: httpx.AsyncClient, engine: Engine, world: World
) -> None:
    token, email = new_invitation(engine, world)
    response = await browser.get(f"/invite/{token}")
    assert response.status_code == 200
    assert_page_headers(response)
    assert "Agency invites you to the Client One client portal" in response.text
    assert email in response.text
    assert "Rita &lt;b&gt;Route&lt;/b&gt;" in response.text and "<b>" not in response.text
    assert token not in response.text  # the form posts back to the page's own URL
    assert 'name="password"' in response.text and 'name="current_password"' not in response.text


async def test_accepting_sets_the_session_cookie_and_goes_to_the_portal(
    browser: httpx.AsyncClient, engine: Engine, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token, email = new_invitation(engine, world)
    response = await browser.post(f"/invite/{token}", data=form())
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{APP}/portal/connections"
    cookie = response.headers["set-cookie"]
    assert "cx_session=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    session_token = cookie.split("cx_session=")[1].split(";")[0]
    with Session(engine) as db:
        me = identity.session_view(db, session_token)
    assert me.email == email and me.actor is not None and me.actor.is_client
    again = await browser.get(f"/invite/{token}")
    assert again.status_code == 404
    assert invitations.INVALID_LINK in again.text
    reused = await browser.post(f"/invite/{token}", data=form())
    assert reused.status_code == 404 and "set-cookie" not in reused.headers
    # The app logs nothing with the token; request lines (the test client's, an access
    # log's) name the path, which the redacting filter blanks.
    assert not [r for r in caplog.records if r.name != "httpx" and token in r.getMessage()]
    assert token not in redaction.scrub(caplog.text)
    assert token not in redaction.scrub(f'"POST {API}/invite/{token} HTTP/1.1" 303')


async def test_an_existing_account_confirms_its_password(
    browser: httpx.AsyncClient, engine: Engine, world: World
) -> None:
    email = f"route-existing-{os.urandom(3).hex()}@client.test"
    with Session(engine) as db:
        identity.create_user(db, email=email, name="Existing", password=PASSWORD)
    token, _ = new_invitation(engine, world, email)
    page = await browser.get(f"/invite/{token}")
    assert 'name="current_password"' in page.text and 'name="confirm"' not in page.text
    wrong = await browser.post(f"/invite/{token}", data={"current_password": "not-it-at-all"})
    assert wrong.status_code == 400 and "not the current password" in wrong.text
    assert "set-cookie" not in wrong.headers
    right = await browser.post(f"/invite/{token}", data={"current_password": PASSWORD})
    assert right.status_code == 303 and "cx_session=" in right.headers["set-cookie"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (form(password="short", confirm="short"), "Use at least"),
        (form(confirm="something-else-entirely"), "not the same"),
        (form(name=""), "Name is required"),
        (form(name="x" * 500), "at most 120"),
        ({}, "The form could not be read"),
    ],
    ids=["short", "mismatch", "no name", "long name", "empty"],
)
async def test_a_bad_password_shows_the_page_again_and_writes_nothing(
    browser: httpx.AsyncClient, engine: Engine, world: World, fields: dict, message: str
) -> None:
    token, email = new_invitation(engine, world)
    before = dump(engine)
    response = await browser.post(f"/invite/{token}", data=fields)
    assert response.status_code == 400
    assert_page_headers(response)
    assert message in response.text and email in response.text
    assert NEW_PASSWORD not in response.text and "set-cookie" not in response.headers
    assert dump(engine) == before


HOSTILE: list[tuple[str, dict[str, object]]] = [
    ("json", {"json": form()}),
    ("too big", {"data": form(name="x" * 9000)}),
    ("duplicate field", {"content": b"name=a&name=b&password=xxxxxxxxxxxx"}),
    ("unknown field", {"content": b"name=a&is_admin=1"}),
    ("not UTF-8", {"content": b"name=%ff%fe&password=xxxxxxxxxxxx"}),
    ("too many fields", {"content": b"&".join(b"f%d=1" % i for i in range(10))}),
]


@pytest.mark.parametrize(("case", "request_kwargs"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_odd_forms_are_refused_clearly_and_change_nothing(
    browser: httpx.AsyncClient,
    engine: Engine,
    world: World,
    case: str,
    request_kwargs: dict[str, object],
) -> None:
    token, _ = new_invitation(engine, world)
    headers = {}
    if "content" in request_kwargs:
        headers["content-type"] = "application/x-www-form-urlencoded"
    before = dump(engine)
    response = await browser.post(f"/invite/{token}", headers=headers, **request_kwargs)  # type: ignore[arg-type]
    assert response.status_code == 400, case
    assert "The form could not be read" in response.text
    assert "Traceback" not in response.text and "set-cookie" not in response.headers
    assert dump(engine) == before


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.test"}, {"Origin": "null"}, {"Origin": ""}],
    ids=["other site", "null origin", "no origin"],
)
async def test_a_post_from_another_origin_is_refused(
    app: Starlette, engine: Engine, world: World, headers: dict[str, str]
) -> None:
    token, _ = new_invitation(engine, world)
    before = dump(engine)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=API, headers=headers
    ) as other:
        response = await other.post(f"/invite/{token}", data=form())
    assert response.status_code == 403 and "set-cookie" not in response.headers
    assert dump(engine) == before


@pytest.mark.parametrize(
    "token",
    ["A" * 43, "short", "a" * 300, "dots.and~tildes.are.not.in.tokens", "%00" * 30],
    ids=["forged", "short", "long", "dots", "nul"],
)
async def test_a_link_that_cannot_be_used_gets_the_clear_page(
    browser: httpx.AsyncClient, engine: Engine, token: str
) -> None:
    before = dump(engine)
    shown = await browser.get(f"/invite/{token}")
    posted = await browser.post(f"/invite/{token}", data=form())
    for response in (shown, posted):
        assert response.status_code == 404
        assert invitations.INVALID_LINK in response.text
        assert "set-cookie" not in response.headers
    assert dump(engine) == before
