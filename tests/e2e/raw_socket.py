"""A bare Engine.IO/Socket.IO client for Reflex's `/_event` websocket, on wsproto (which
Reflex's server stack already installs): it sends exactly the headers it is given
(an Origin or none, any Cookie or none), so tests can act as any client can — a
script without a browser, a gone tab's token, another person's cookie."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

NAMESPACE = "/_event"
STATE = "reflex___state____state"
SESSION_STATE = f"{STATE}.connections_app___ui___states___session____session_state"


class Refused(Exception):
    """The server refused the websocket handshake."""

    def __init__(self, status: int) -> None:
        super().__init__(f"handshake refused with HTTP {status}")
        self.status = status


@dataclass
class RawSocket:
    sock: socket.socket
    ws: WSConnection
    updates: list[dict[str, Any]] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    closed: bool = False

    @classmethod
    def open(
        cls,
        base_url: str,
        *,
        token: str,
        origin: str | None,
        cookie: str | None = None,
        boot_event: dict[str, Any] | None = None,
        timeout: float = 10.0,
    ) -> RawSocket:
        """Handshake, then the Socket.IO CONNECT to the event namespace (the hydrate
        rides in its auth payload, as Reflex's frontend sends it)."""
        parts = urlsplit(base_url)
        sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        ws = WSConnection(ConnectionType.CLIENT)
        headers: list[tuple[bytes, bytes]] = []
        if origin is not None:
            headers.append((b"origin", origin.encode()))
        if cookie is not None:
            headers.append((b"cookie", cookie.encode()))
        query = urlencode({"EIO": "4", "transport": "websocket", "token": token})
        target = f"{NAMESPACE}/?{query}"
        sock.sendall(ws.send(Request(host=parts.netloc, target=target, extra_headers=headers)))
        raw = cls(sock=sock, ws=ws)
        raw._handshake(timeout)
        auth = {"event": boot_event} if boot_event is not None else {}
        raw.send_text("40" + NAMESPACE + "," + json.dumps(auth))
        return raw

    def _handshake(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.receive_data(self.sock.recv(65536) or None)
            for event in self.ws.events():
                if isinstance(event, AcceptConnection):
                    return
                if isinstance(event, RejectConnection):
                    self.sock.close()
                    raise Refused(event.status_code)
                if isinstance(event, RejectData):
                    continue
        raise TimeoutError("no handshake answer")

    def send_text(self, text: str) -> None:
        self.sock.sendall(self.ws.send(TextMessage(data=text)))

    def emit(self, name: str, data: Any) -> None:
        self.send_text("42" + NAMESPACE + "," + json.dumps([name, data]))

    def send_event(self, name: str, payload: dict[str, Any], path: str = "/integrations") -> None:
        self.emit("event", event(name, payload, path))

    def pump(self, seconds: float, until: Any = None) -> None:
        """Read frames for up to `seconds` (or until `until(self)` is true)."""
        deadline = time.monotonic() + seconds
        buffer = ""
        while time.monotonic() < deadline and not self.closed:
            if until is not None and until(self):
                return
            self.sock.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            if not data:
                self.closed = True
                return
            self.ws.receive_data(data)
            for item in self.ws.events():
                if isinstance(item, TextMessage):
                    buffer += item.data
                    if item.message_finished:
                        self._on_packet(buffer)
                        buffer = ""
                elif isinstance(item, Ping):
                    self.sock.sendall(self.ws.send(item.response()))
                elif isinstance(item, CloseConnection):
                    self.closed = True

    def _on_packet(self, packet: str) -> None:
        self.received.append(packet)
        if packet == "2":  # Engine.IO ping
            self.send_text("3")
            return
        prefix = "42" + NAMESPACE + ","
        if packet.startswith(prefix):
            name, *args = json.loads(packet[len(prefix) :])
            if name == "event" and args and isinstance(args[0], dict):
                self.updates.append(args[0])

    def text(self) -> str:
        return "\n".join(self.received)

    def close(self) -> None:
        if not self.closed:
            try:
                self.send_text("41" + NAMESPACE)
                self.sock.sendall(self.ws.send(CloseConnection(code=1000)))
            except OSError:
                pass
        self.sock.close()
        self.closed = True


def event(name: str, payload: dict[str, Any], path: str = "/integrations") -> dict[str, Any]:
    return {"name": name, "payload": payload, "router_data": {"pathname": path, "asPath": path}}


def hydrate(path: str = "/integrations") -> dict[str, Any]:
    """The boot event Reflex's frontend puts in the CONNECT packet."""
    return event(f"{STATE}.hydrate_and_load", {}, path)
