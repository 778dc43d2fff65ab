"""The egress policy's decisions, on resolved addresses only: no connection is opened
and nothing leaves the machine (private and metadata ranges are judged, not called)."""

from __future__ import annotations

import ipaddress

import pytest

from connections_app.core import egress

DEFAULT = egress.policy_from("", "")


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.0.0.2", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("10.255.255.254", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.0.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("169.254.0.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("100.64.0.1", "shared"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:a00:1::", "private"),  # 6to4 around 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "reserved"),  # NAT64 around the metadata address
    ],
)
def test_internal_ranges_are_refused_by_default(address: str, why: str) -> None:
    refusal = DEFAULT.refusal("example.test", ipaddress.ip_address(address), 80)
    assert refusal is not None and why in refusal


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert DEFAULT.refusal("example.test", ipaddress.ip_address(address), 443) is None


def test_an_allowed_address_is_allowed_on_its_port_only() -> None:
    policy = egress.policy_from("127.0.0.1:8765", "")
    loopback = ipaddress.ip_address("127.0.0.1")
    assert policy.refusal("127.0.0.1", loopback, 8765) is None
    assert policy.refusal("127.0.0.1", loopback, 8766) is not None
    assert policy.refusal("127.0.0.2", ipaddress.ip_address("127.0.0.2"), 8765) is not None
    assert policy.refusal("x", ipaddress.ip_address("::ffff:127.0.0.1"), 8765) is None


def test_ranges_hosts_and_wildcards() -> None:
    policy = egress.policy_from("10.20.0.0/16, *.internal.example:443 [fd00::]/8", "")
    assert policy.refusal("a", ipaddress.ip_address("10.20.3.4"), 1) is None
    assert policy.refusal("a", ipaddress.ip_address("10.21.3.4"), 1) is not None
    internal = ipaddress.ip_address("10.99.0.1")
    assert policy.refusal("api.internal.example", internal, 443) is None
    assert policy.refusal("api.internal.example", internal, 80) is not None
    assert policy.refusal("internal.example.evil", internal, 443) is not None
    assert policy.refusal("a", ipaddress.ip_address("fd00::5"), 1) is None


def test_deny_wins_over_allow_and_over_public() -> None:
    policy = egress.policy_from("127.0.0.1", "127.0.0.0/8 93.184.0.0/16 evil.example")
    assert "DENY" in (policy.refusal("x", ipaddress.ip_address("127.0.0.1"), 80) or "")
    assert policy.refusal("x", ipaddress.ip_address("93.184.215.14"), 443) is not None
    assert policy.refusal("evil.example", ipaddress.ip_address("8.8.8.8"), 443) is not None


@pytest.mark.parametrize("bad", ["host!", "[::1", "10.0.0.1:99999", "[::1]x", "a:b"])
def test_unreadable_entries_are_configuration_errors(bad: str) -> None:
    with pytest.raises(egress.EgressConfigError):
        egress.parse_rules(bad, source=egress.ALLOW_VAR)


@pytest.mark.parametrize(
    "spelling", ["127.0.0.1", "2130706433", "127.1", "0x7f.0.0.1", "0177.0.0.1"]
)
def test_numeric_spellings_resolve_to_what_they_are(spelling: str) -> None:
    # Resolved locally (no DNS query): every spelling of loopback is loopback.
    with pytest.raises(egress.EgressRefused, match="loopback"):
        egress.permitted(spelling, 80, rules=DEFAULT)


def test_only_http_destinations_are_checked_urls() -> None:
    with pytest.raises(egress.EgressRefused):
        egress.check_url("file:///etc/passwd")
    with pytest.raises(egress.EgressRefused):
        egress.check_url("gopher://127.0.0.1/")


def test_the_client_ignores_proxies_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://10.0.0.1:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.1:3128")
    with egress.client() as http:
        assert egress.is_guarded(http)
        assert http._mounts == {}  # no proxy transport was mounted
