"""Where the server may send requests made with connections (Test, runs, OAuth calls).

A connection's endpoint is data a person typed (a custom base URL, a DSN host) or
an operator configured, and every request made with it runs on the server, inside
the installation's network. Without a policy, "Test" on a connection pointed at
`http://127.0.0.1:8000/...` or `http://169.254.169.254/` would make the app call
its own backend or the cloud metadata service and report what came back.

The policy decides on the *resolved* address of every connection the HTTP client
opens (after DNS, so `2130706433`, `127.1` and a name that resolves to a private
address are all seen as what they are), inside the network backend itself: a
name that resolves differently a moment later (DNS rebinding) is checked again,
and so is every redirect hop. By default loopback, private, link-local (the
metadata address included), unique-local, shared, multicast and reserved ranges
are refused. `CONNECTIONS_EGRESS_DENY` adds refusals (it always wins);
`CONNECTIONS_EGRESS_ALLOW` opens specific destinations (the demo's and the tests'
stand-in provider on loopback, an internal service). Entries are separated by
commas or spaces: an address or CIDR (`10.1.0.0/16`, `[fd00::]/8`), a host name
(`api.internal.example`, `*.internal.example`), each optionally with `:port`.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpcore
import httpx

from connections_app.core.settings import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ALLOW_VAR = "CONNECTIONS_EGRESS_ALLOW"
DENY_VAR = "CONNECTIONS_EGRESS_DENY"
MAX_REDIRECTS = 3
_LABEL = r"[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?"
_HOST_NAME = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$")


class EgressConfigError(ValueError):
    """An allow/deny entry cannot be understood: the installation must fix it."""


class EgressRefused(httpx.ConnectError):
    """The policy refused a destination; the message says which and why, for people."""


class RedirectRefused(httpx.HTTPError):
    """A provider tried to send a request carrying a credential to another host."""


# --- rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One allow/deny entry: an address range or a host name, optionally one port."""

    text: str
    network: IPNetwork | None = None
    host: str | None = None  # lower-case; "*.example.com" matches its subdomains
    port: int | None = None

    def matches(self, host: str, address: IPAddress | None, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return address is not None and _unmapped(address) in self.network
        assert self.host is not None
        name = host.lower().rstrip(".")
        if self.host.startswith("*."):
            return name.endswith(self.host[1:])
        return name == self.host


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [v6] or [v6/len], then :port
        end = entry.find("]")
        if end < 0:
            raise EgressConfigError(f"unclosed “[” in {entry!r}")
        inner, rest = entry[1:end], entry[end + 1 :]
        if not rest:
            return inner, None
        if rest.startswith("/"):  # [fd00::]/8 or [fd00::]/8:443
            length = re.fullmatch(r"/(\d{1,3})(?::(\d+))?", rest)
            if length is None:
                raise EgressConfigError(f"bad prefix length in {entry!r}")
            port = _port(length.group(2), entry) if length.group(2) else None
            return f"{inner}/{length.group(1)}", port
        if not rest.startswith(":"):
            raise EgressConfigError(f"unexpected text after “]” in {entry!r}")
        return inner, _port(rest[1:], entry)
    if entry.count(":") == 1:
        head, _, tail = entry.partition(":")
        return head, _port(tail, entry)
    return entry, None  # a bare IPv6 address or range, or no port


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise EgressConfigError(f"bad port in {entry!r}")
    return int(text)


def parse_rules(text: str | None, *, source: str) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for entry in re.split(r"[\s,]+", (text or "").strip()):
        if not entry:
            continue
        try:
            target, port = _split_port(entry)
        except EgressConfigError as err:
            raise EgressConfigError(f"{source}: {err}") from None
        try:
            network = ipaddress.ip_network(target, strict=False)
        except ValueError:
            network = None
        if network is not None:
            rules.append(Rule(entry, network=network, port=port))
            continue
        name = target.lower().rstrip(".")
        if not _HOST_NAME.match(name):
            raise EgressConfigError(f"{source}: cannot read {entry!r} (an address, range or host)")
        rules.append(Rule(entry, host=name, port=port))
    return tuple(rules)


# --- the decision --------------------------------------------------------------------


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _embedded(address: IPAddress) -> list[IPAddress]:
    """IPv4 addresses an IPv6 address carries to the IPv4 internet (6to4, Teredo, NAT64)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found: list[IPAddress] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if any(address in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _category(address: IPAddress) -> str | None:
    """Why an address is internal, or None for a public one."""
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL:
        return "a unique-local address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a reserved address"
    return None


_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_SHARED = ipaddress.ip_network("100.64.0.0/10")


@dataclass(frozen=True)
class Policy:
    allow: tuple[Rule, ...] = ()
    deny: tuple[Rule, ...] = ()

    def refusal(self, host: str, address: IPAddress, port: int) -> str | None:
        """None when `host` (resolved to `address`) may be reached on `port`, else why not."""
        address = _unmapped(address)
        candidates = [address, *_embedded(address)]
        for candidate in candidates:
            if any(rule.matches(host, candidate, port) for rule in self.deny):
                return f"{address} is blocked by {DENY_VAR}"
        if any(rule.matches(host, address, port) for rule in self.allow):
            return None
        for candidate in candidates:
            why = _category(candidate)
            if why is not None:
                return f"{address} is {why}"
        return None


def policy_from(allow: str | None, deny: str | None) -> Policy:
    return Policy(parse_rules(allow, source=ALLOW_VAR), parse_rules(deny, source=DENY_VAR))


@lru_cache(maxsize=8)
def _policy_for(allow: str, deny: str) -> Policy:
    return policy_from(allow, deny)


def policy() -> Policy:
    """The installation's policy (raises EgressConfigError on a bad entry: checked at start)."""
    settings = get_settings()
    return _policy_for(settings.egress_allow, settings.egress_deny)


def _refused_message(host: str, why: str) -> str:
    return (
        f"Connections may not send requests to {host}: {why}. "
        f"An operator can allow a destination with {ALLOW_VAR}."
    )


def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses a connection to host:port would use (numeric forms included)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise httpx.ConnectError(f"{host} could not be resolved ({type(err).__name__}).") from None
    seen: dict[str, IPAddress] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        seen.setdefault(text, ipaddress.ip_address(text))
    return list(seen.values())


def permitted(host: str, port: int, *, rules: Policy | None = None) -> list[IPAddress]:
    """Resolve and check: the addresses that may be used, or EgressRefused with the reason."""
    rules = rules or policy()
    addresses = resolve(host, port)
    allowed = [a for a in addresses if rules.refusal(host, a, port) is None]
    if not allowed:
        why = rules.refusal(host, addresses[0], port) if addresses else "it has no address"
        raise EgressRefused(_refused_message(host, why or "refused"))
    return allowed


def check_url(url: httpx.URL | str) -> None:
    """Refuse a URL whose host the policy denies (used before following a redirect)."""
    target = httpx.URL(str(url))
    if target.scheme not in ("http", "https") or not target.host:
        raise EgressRefused("Only http and https destinations can be reached.")
    permitted(target.host, target.port or (443 if target.scheme == "https" else 80))


# --- the guarded HTTP client -----------------------------------------------------------


class _GuardedBackend(httpcore.NetworkBackend):
    """Opens TCP connections only to addresses the policy allows, checked at connect time.

    TLS still verifies the certificate against the host name: httpcore starts TLS
    on the returned stream with the origin's name, not the address.
    """

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = permitted(host, port)
        except httpx.ConnectError as err:
            raise _Refused(str(err), isinstance(err, EgressRefused)) from None
        last: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as err:
                last = err
        assert last is not None
        raise last

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise _Refused("Unix sockets cannot be reached through a connection.", True)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _Refused(httpcore.ConnectError):
    def __init__(self, message: str, by_policy: bool) -> None:
        super().__init__(message)
        self.by_policy = by_policy


@lru_cache(maxsize=1)
def _ssl_context() -> Any:
    """One verifying TLS context for every guarded client (building one loads the CA
    bundle: too slow to repeat for every Test and run)."""
    return httpx.create_ssl_context(trust_env=False)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over the guarded network backend; proxies from the
    environment are ignored (a proxy would make the policy judge the proxy)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(verify=_ssl_context(), trust_env=False, **kwargs)
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=10,
            max_keepalive_connections=5,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except httpx.ConnectError as err:
            cause = err.__cause__
            if isinstance(cause, _Refused) and cause.by_policy:
                raise EgressRefused(str(cause), request=request) from None
            raise


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def _refuse_cross_origin_redirects(response: httpx.Response) -> None:
    """Response hook: a redirect is followed only to the same origin.

    The request may carry a credential in a header httpx does not strip (an API-key
    header, Basic auth, a query parameter): following it to another host would hand
    that credential to a destination nobody entered it for.
    """
    if not response.has_redirect_location:
        return
    location = response.headers.get("location", "")
    try:
        target = response.request.url.join(location)
    except (httpx.InvalidURL, ValueError):
        raise RedirectRefused("The service answered with a redirect to an invalid URL.") from None
    if _same_origin(target, response.request.url):
        return
    check_url(target)  # a denied destination is named as such
    raise RedirectRefused(
        f"The service redirected the request to another host ({target.host}); it was not "
        "followed, so the credential stays with the destination it was entered for."
    )


def client(*, timeout: httpx.Timeout | float = 10.0, **kwargs: Any) -> httpx.Client:
    """An HTTP client for requests made with connections: policy-checked at every
    connect, same-origin redirects only (at most MAX_REDIRECTS)."""
    hooks = kwargs.pop("event_hooks", {})
    hooks = {**hooks, "response": [*hooks.get("response", []), _refuse_cross_origin_redirects]}
    made = httpx.Client(
        timeout=timeout,
        transport=GuardedTransport(),
        trust_env=False,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        event_hooks=hooks,
        **kwargs,
    )
    made._connections_guarded = True  # type: ignore[attr-defined]
    return made


def client_options(timeout: float) -> dict[str, Any]:
    """Keyword arguments that make an httpx.Client subclass (authlib's OAuth2Client)
    guarded the same way: token, identity and revocation calls go through the policy.
    Redirects are not followed at all there (a token endpoint does not redirect)."""
    return {
        "timeout": timeout,
        "transport": GuardedTransport(),
        "trust_env": False,
        "follow_redirects": False,
    }


def is_guarded(http: httpx.Client) -> bool:
    return bool(getattr(http, "_connections_guarded", False)) or isinstance(
        getattr(http, "_transport", None), GuardedTransport
    )


def describe(err: httpx.HTTPError) -> str | None:
    """A person-readable reason for a policy or redirect refusal (None for others)."""
    if isinstance(err, EgressRefused | RedirectRefused):
        return str(err)
    if isinstance(err, httpx.TooManyRedirects):
        return "The service redirected the request too many times."
    return None


def guarded_addresses(host: str, port: int) -> Iterator[str]:
    """Checked addresses for non-HTTP clients (a DSN test): connect to these, by address."""
    for address in permitted(host, port):
        yield str(address)
