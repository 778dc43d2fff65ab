"""Who is calling, as far as the network can tell: the sign-in throttle's client key.

By default the peer address of the connection is the client, and X-Forwarded-For
is ignored: anyone can write that header, and trusting it would let one client
take a fresh throttle key per request. Behind a reverse proxy every request
comes from the proxy, so the operator names the proxies
(`CONNECTIONS_TRUSTED_PROXIES`); then X-Forwarded-For is read from the right,
skipping trusted hops, and the first untrusted address is the client.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request

from connections_app.core.settings import IPNetwork, get_settings

MAX_HOPS = 20


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: tuple[IPNetwork, ...]
) -> bool:
    return any(address.version == net.version and address in net for net in nets)


def client_address(request: Request) -> str:
    """The client's IP address (a string), or "" when the server does not know it."""
    peer = request.client.host if request.client else ""
    trusted = get_settings().trusted_proxies
    peer_ip = _ip(peer)
    if not trusted or peer_ip is None or not _trusted(peer_ip, trusted):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
        if hop.strip()
    ][-MAX_HOPS:]
    for hop in reversed(hops):
        hop_ip = _ip(hop)
        if hop_ip is None:
            return peer  # a broken chain: fall back to the proxy, the cautious key
        if not _trusted(hop_ip, trusted):
            return str(hop_ip)
    return str(_ip(hops[0])) if hops else peer
