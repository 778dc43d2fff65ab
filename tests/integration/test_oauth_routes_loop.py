"""The OAuth popup's routes never block the event loop: a provider that takes 5 s to
exchange the code holds up nothing else the same worker is serving (another tab's
handler runs on this very loop)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy.engine import Engine
from starlette.applications import Starlette

from connections_app.core.vault import Vault
from connections_app.http.oauth_routes import routes
from tests.conftest import World
from tests.integration.cli_env import use_database
from tests.integration.oauth_helpers import consent, register_clients, session_for
from tests.standin_fixtures import StandIn

SLOW_SECONDS = 5.0


async def _largest_stall(stop: asyncio.Event) -> float:
    """How late a 20 ms timer fires at worst while the loop is busy elsewhere."""
    worst = 0.0
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.02)
        worst = max(worst, time.perf_counter() - started - 0.02)
    return worst


async def test_a_slow_code_exchange_does_not_stall_the_worker(
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    engine: Engine,
    vault: Vault,
    world: World,
    standin: StandIn,
) -> None:
    use_database(monkeypatch, db_url)
    register_clients(engine, vault, ("slack",))
    token = session_for(engine, world.user_ids["admin1"])
    app = Starlette(routes=routes)
    cookies = {"cx_session": token}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost:8000", cookies=cookies
    ) as client:
        started = await client.get("/oauth/start", params={"app": "slack"})
        assert started.status_code == 302
        params = await asyncio.to_thread(consent, started.headers["location"])
        standin.control(
            "PUT", "/oauth/slack/settings", {"token_mode": "slow", "slow_seconds": SLOW_SECONDS}
        )
        stop = asyncio.Event()
        ticker = asyncio.create_task(_largest_stall(stop))
        await asyncio.sleep(0.1)  # the ticker is running before the callback starts
        began = time.perf_counter()
        finished = await client.get("/oauth/callback", params=params)
        took = time.perf_counter() - began
        stop.set()
        stall = await ticker
    assert finished.status_code == 200, finished.text
    assert "Connected" in finished.text
    assert took >= SLOW_SECONDS  # the provider really was slow
    assert stall < 0.2, f"the event loop stalled {stall * 1000:.0f} ms during the exchange"
