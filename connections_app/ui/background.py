"""Lifespan tasks of the web app: the token refresher (which also resumes parked runs)
and the alert bridge.

Both run in every backend worker. The refresher's per-row lease makes that safe
(one refresh per expiry whatever the number of workers). The bridge turns
`core.alerts` messages into a bump of the workspace's `WorkspaceSignal`, which
Reflex fans out to every linked tab; with Redis, a listener per worker hears
alerts published by other processes (the CLI refresher, other workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
import threading
from typing import Any

import reflex as rx
from sqlmodel import Session

from connections_app.core import alerts
from connections_app.core.clock import utcnow
from connections_app.core.connections import tokens
from connections_app.core.db import get_engine, read_scope
from connections_app.core.identity import service as identity
from connections_app.core.identity import throttle
from connections_app.core.oauth import flow
from connections_app.core.settings import get_settings
from connections_app.core.vault import get_vault
from connections_app.core.workflows import runs
from connections_app.ui.states.session import SessionState
from connections_app.ui.states.workspace_signal import (
    AccountSignal,
    WorkspaceSignal,
    account_signal_token,
    signal_token,
)

log = logging.getLogger(__name__)
REFRESH_INTERVAL_SECONDS = 15.0
HOUSEKEEPING_EVERY = 240  # passes: about once an hour at the default interval
REDIS_RETRY_SECONDS = 1.0  # the alert listener resubscribes this often while Redis is away


async def _bump(app: rx.App, workspace_id: str) -> None:
    """Count the change on the workspace's shared signal, then reload each linked tab.

    The shared state's `_linked_from` is the registry of tabs that proved
    membership when they linked; each reload re-derives that tab's own actor
    from its own session, so what a tab receives is what its person may see.
    """
    account_id = alerts.account_of(workspace_id)
    gone = account_id is None and not await asyncio.to_thread(_workspace_exists, workspace_id)
    cls: type[rx.SharedState] = WorkspaceSignal if account_id is None else AccountSignal
    ident = signal_token(workspace_id) if account_id is None else account_signal_token(account_id)
    token = rx.BaseStateToken(ident=ident, cls=cls)
    async with app.modify_state(token) as state:
        signal = state if isinstance(state, cls) else await state.get_state(cls)
        signal.version += 1
        tabs = set(signal._linked_from)
    live = live_state_classes()
    for client_token in tabs:
        if not await _connected(app, client_token):
            continue
        tab = rx.BaseStateToken(ident=client_token, cls=live[0])
        async with app.modify_state(tab) as root:
            if gone:  # deleted: nothing of it is re-read, the tab leaves it
                await (await root.get_state(SessionState))._leave_deleted_workspace()
                continue
            for cls in live:
                reloaded = (await root.get_state(cls))._on_workspace_change()
                if inspect.isawaitable(reloaded):  # page states read through a worker thread
                    await reloaded


def _workspace_exists(workspace_id: str) -> bool:
    with read_scope() as db:
        return identity.workspace_exists(db, workspace_id)


def live_state_classes() -> list[type[SessionState]]:
    """The page states that follow workspace changes (they override the hook).

    Found through Python's own subclass links: Reflex's substate registry needs its
    registration context, which a lifespan task does not have."""
    found: list[type[SessionState]] = []
    pending = list(SessionState.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls._on_workspace_change is not SessionState._on_workspace_change:
            found.append(cls)
    return sorted(set(found), key=lambda cls: cls.__qualname__)


async def _connected(app: rx.App, client_token: str) -> bool:
    namespace = app.event_namespace
    manager = getattr(namespace, "_token_manager", None)
    if manager is None:
        return True
    try:
        return bool(await manager.is_token_connected(client_token))
    except Exception:
        return True


async def _resume(workspace_id: str | None) -> int:
    engine = get_engine()
    return await asyncio.to_thread(
        runs.resume_ready, lambda: Session(engine), workspace_id=workspace_id
    )


def alert_bridge(app: rx.App):  # type: ignore[no-untyped-def]
    async def run() -> None:
        loop = asyncio.get_running_loop()

        def on_alert(workspace_id: str) -> None:
            future = asyncio.run_coroutine_threadsafe(_bump(app, workspace_id), loop)
            future.add_done_callback(
                lambda f: f.exception() and log.warning("alert push failed: %s", f.exception())
            )
            if alerts.account_of(workspace_id) is not None:
                return  # the account's screens only: no workspace's runs wait on it
            # A reconnect may unblock parked runs (F22): try them now, not at the next pass.
            resume = asyncio.run_coroutine_threadsafe(_resume(workspace_id), loop)
            resume.add_done_callback(
                lambda f: f.exception() and log.warning("resume failed: %s", f.exception())
            )

        unsubscribe = alerts.subscribe(on_alert)
        stop = threading.Event()
        listener = _start_redis_listener(stop)
        try:
            await asyncio.Event().wait()  # until the app shuts down
        finally:
            stop.set()
            unsubscribe()
            if listener is not None:
                listener.join(timeout=2)

    return run


def _start_redis_listener(stop: threading.Event) -> threading.Thread | None:
    url = get_settings().redis_url
    if not url:
        return None

    def listen_once() -> None:
        import redis

        pubsub = redis.Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(alerts.CHANNEL)
            while not stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message and isinstance(message.get("data"), bytes):
                    alerts.deliver(message["data"].decode()[:64])
        finally:
            with contextlib.suppress(Exception):
                pubsub.close()

    def listen() -> None:
        """Redis going away (a restart, an outage) must not end live updates for good:
        subscribe again once it is back. Alerts published meanwhile were delivered
        locally by `alerts.publish`; every screen re-reads on its next signal."""
        while not stop.is_set():
            try:
                listen_once()
            except Exception as err:
                log.warning("alert listener lost Redis (%s); retrying", type(err).__name__)
                stop.wait(REDIS_RETRY_SECONDS)

    thread = threading.Thread(target=listen, name="alerts-redis", daemon=True)
    thread.start()
    return thread


def _housekeeping(engine: Any) -> None:
    """Forget what has no use any more: spent OAuth flows, expired sessions, and
    sign-in throttle keys that have been quiet for a while."""
    with Session(engine) as db:
        flow.purge_finished(db)
    with Session(engine) as db:
        identity.purge_expired_sessions(db)
    with Session(engine) as db:
        throttle.purge(db, now=utcnow())


async def refresher() -> None:
    """Refresh OAuth tokens a lead time before they expire, forever."""
    owner = f"web-{secrets.token_hex(4)}"
    interval = float(get_settings().refresh_interval_seconds or REFRESH_INTERVAL_SECONDS)
    engine = get_engine()
    pacer = tokens.new_pacer()  # a provider's pause (429) outlives the pass that heard it
    passes = 0
    while True:
        try:
            counts = await asyncio.to_thread(
                tokens.refresh_due,
                lambda: Session(engine),
                vault=get_vault(),
                owner=owner,
                pacer=pacer,
            )
            if counts:
                log.info("refresher pass: %s", counts)
            resumed = await _resume(None)  # parked runs whose connection is back (F22)
            if resumed:
                log.info("resumed %d parked run(s)", resumed)
            if passes % HOUSEKEEPING_EVERY == 0:
                await asyncio.to_thread(_housekeeping, engine)
        except Exception as err:  # keep refreshing whatever one pass hit
            log.warning("refresher pass failed: %s", type(err).__name__)
        passes += 1
        await asyncio.sleep(interval)
