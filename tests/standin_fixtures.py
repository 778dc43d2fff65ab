"""A real stand-in provider on a loopback port for the whole session, with the catalog
pointed at it by the same environment overrides an installation would use."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from connections_app.core.catalog import reset_catalog_cache
from connections_app.core.settings import get_settings
from connections_app.standin.app import create_app
from connections_app.standin.overrides import catalog_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class StandIn:
    url: str

    def control(self, method: str, path: str, json: object = None) -> httpx.Response:
        response = httpx.request(method, f"{self.url}/_standin{path}", json=json, timeout=5)
        response.raise_for_status()
        return response

    def set_mode(self, app: str, mode: str, seconds: float = 2.0) -> None:
        self.control("PUT", f"/mode/{app}", {"mode": mode, "seconds": seconds})

    def reset(self) -> None:
        self.control("POST", "/reset")


@pytest.fixture(scope="session")
def standin() -> Iterator[StandIn]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("stand-in provider did not start")
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in catalog_env(url)}
    os.environ.update(catalog_env(url))  # the egress policy allows exactly this address
    reset_catalog_cache()
    get_settings.cache_clear()
    yield StandIn(url)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_catalog_cache()
    get_settings.cache_clear()
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _standin_reset(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "standin" in request.fixturenames:
        request.getfixturevalue("standin").reset()
