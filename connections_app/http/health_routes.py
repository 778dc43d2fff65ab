"""`/healthz` (the process answers) and `/readyz` (it can serve: core/readiness.py).

Both are public, for load balancers and `make run-scaled`: they answer booleans only.
Liveness touches nothing, so a database outage never makes an orchestrator restart
every healthy app process at once; readiness takes the process out of rotation instead.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connections_app.core.readiness import readiness

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 10.0
NO_STORE = {"Cache-Control": "no-store"}


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


async def readyz(_request: Request) -> Response:
    """The checks block (database, Redis): in a thread, so this worker's websockets keep
    being served; bounded, so a hanging connection answers "not ready" rather than never."""
    try:
        answer = await asyncio.wait_for(asyncio.to_thread(readiness), READY_TIMEOUT_S)
    except TimeoutError:
        log.warning("readiness: checks did not answer within %ss", READY_TIMEOUT_S)
        return JSONResponse({"ready": False, "checks": {}}, status_code=503, headers=NO_STORE)
    body = {"ready": answer.ready, "checks": answer.checks}
    return JSONResponse(body, status_code=200 if answer.ready else 503, headers=NO_STORE)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
