"""The throttle's numbers and names, without a database: the waits, the message, how a
client address becomes a key, which address counts behind a proxy, and what the
sign-in page makes of its query string."""

from __future__ import annotations

from datetime import timedelta

import pytest
from starlette.requests import Request

from connections_app.core.identity import throttle
from connections_app.core.settings import get_settings
from connections_app.http.client_address import client_address
from connections_app.ui.states.sign_in import _error_message


def test_client_waits_double_from_one_second_up_to_five_minutes() -> None:
    waits = [throttle.CLIENT.wait_after(n) for n in range(1, 20)]
    seconds = [w.total_seconds() if w else 0 for w in waits]
    assert seconds[: throttle.CLIENT.free] == [0] * throttle.CLIENT.free
    assert seconds[throttle.CLIENT.free :] == [
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        300,
        300,
        300,
        300,
        300,
    ]


def test_account_waits_are_capped_at_tens_of_seconds() -> None:
    seconds = [
        (throttle.ACCOUNT.wait_after(n) or timedelta()).total_seconds() for n in range(1, 40)
    ]
    assert seconds[: throttle.ACCOUNT.free] == [0] * throttle.ACCOUNT.free
    assert seconds[throttle.ACCOUNT.free : throttle.ACCOUNT.free + 7] == [1, 2, 4, 8, 16, 30, 30]
    assert max(seconds) == throttle.ACCOUNT.cap_seconds <= 30
    # A person who mistypes twice never meets a wait, on either key.
    assert throttle.CLIENT.free >= 3 and throttle.ACCOUNT.free >= 3
    # One client alone cannot push an account past its free failures.
    assert throttle.ACCOUNT.free > throttle.PAIR_SHARE
    # Huge counts do not overflow.
    assert throttle.CLIENT.wait_after(10**6) == timedelta(seconds=300)


def test_the_message_says_how_long() -> None:
    assert throttle.retry_message(1) == "Too many attempts. Try again in 1 second."
    assert throttle.retry_message(30) == "Too many attempts. Try again in 30 seconds."
    assert throttle.retry_message(None) == "Too many attempts. Try again in a moment."
    err = throttle.TooManyAttempts(7)
    assert err.retry_after == 7 and str(err) == "Too many attempts. Try again in 7 seconds."


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        (" 203.0.113.9 ", "203.0.113.9"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::1", "::/64"),
        ("testclient", "other:testclient"),
        ("", "unknown"),
        (None, "unknown"),
        ("x" * 500, "other:" + "x" * 100),
    ],
)
def test_client_keys(address: str | None, key: str) -> None:
    assert throttle.client_key(address) == key


def test_keys_are_hashes_and_independent_of_each_other() -> None:
    a = throttle.Keys.of(client="203.0.113.9", email="wes@northstar.test")
    b = throttle.Keys.of(client="203.0.113.10", email="wes@northstar.test")
    assert a.account == b.account and a.client != b.client and a.pair != b.pair
    assert len({a.client, a.account, a.pair}) == 3
    for key in (a.client, a.account, a.pair):
        assert len(key) == 64 and "wes" not in key


def _request(peer: str, forwarded: list[str] | None = None) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded or []]
    return Request({"type": "http", "client": (peer, 1234), "headers": headers})


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CONNECTIONS_TRUSTED_PROXIES", raising=False)
    get_settings.cache_clear()
    assert client_address(_request("10.0.0.2", ["198.51.100.7"])) == "10.0.0.2"

    monkeypatch.setenv("CONNECTIONS_TRUSTED_PROXIES", "10.0.0.0/8,2001:db8::1")
    get_settings.cache_clear()
    assert client_address(_request("10.0.0.2", ["1.1.1.1, 198.51.100.7, 10.0.0.9"])) == (
        "198.51.100.7"
    )
    assert client_address(_request("2001:db8::1", ["198.51.100.7"])) == "198.51.100.7"
    # Two headers are one list; only the hops the proxies appended count.
    assert client_address(_request("10.0.0.2", ["1.1.1.1", "198.51.100.8"])) == "198.51.100.8"
    # Not from a trusted proxy: the header is anyone's to write.
    assert client_address(_request("192.0.2.5", ["198.51.100.7"])) == "192.0.2.5"
    # A broken chain or no header: the proxy's own address, the cautious key.
    assert client_address(_request("10.0.0.2", ["not-an-ip, 10.0.0.3"])) == "10.0.0.2"
    assert client_address(_request("10.0.0.2")) == "10.0.0.2"
    assert client_address(_request("10.0.0.2", ["10.0.0.7, 10.0.0.3"])) == "10.0.0.7"


def test_a_typo_in_trusted_proxies_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTIONS_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal")
    get_settings.cache_clear()
    with pytest.raises(SystemExit, match="CONNECTIONS_TRUSTED_PROXIES"):
        get_settings()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"error": "throttled", "wait": "12"}, "Too many attempts. Try again in 12 seconds."),
        ({"error": "throttled", "wait": "1"}, "Too many attempts. Try again in 1 second."),
        ({"error": "throttled"}, "Too many attempts. Try again in a moment."),
        ({"error": "throttled", "wait": "0"}, "Too many attempts. Try again in a moment."),
        ({"error": "throttled", "wait": "99999999"}, "Too many attempts. Try again in a moment."),
        ({"error": "throttled", "wait": "-5"}, "Too many attempts. Try again in a moment."),
        ({"error": "throttled", "wait": "٣"}, "Too many attempts. Try again in a moment."),
        ({"error": "throttled", "wait": "<b>9</b>"}, "Too many attempts. Try again in a moment."),
        ({"error": "invalid"}, "Email or password is incorrect."),
        ({"error": "form"}, "The sign-in form could not be read. Please try again."),
        ({"error": "locked"}, ""),
        ({"error": "<script>"}, ""),
        ({}, ""),
    ],
)
def test_sign_in_page_messages(params: dict[str, str], message: str) -> None:
    assert _error_message(params) == message
