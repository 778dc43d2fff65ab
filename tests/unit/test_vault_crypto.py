"""Vault primitives without a database: key parsing, masking, associated-data binding."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connections_app.core.vault import (
    LocalMasterKey,
    SealedPlace,
    VaultError,
    WrongMasterKey,
    generate_master_key,
    masked_tail,
    parse_master_key,
    secret_aad,
)


def test_generated_master_key_round_trips() -> None:
    text = generate_master_key()
    assert len(parse_master_key(text)) == 32
    standard = base64.b64encode(parse_master_key(text)).decode()
    assert parse_master_key(standard) == parse_master_key(text)


@pytest.mark.parametrize(
    "bad", ["", "not base64!!", base64.b64encode(b"short").decode(), "a" * 200]
)
def test_bad_master_keys_are_refused_without_echoing_them(bad: str) -> None:
    with pytest.raises(VaultError) as err:
        parse_master_key(bad)
    assert bad == "" or bad not in str(err.value)


@pytest.mark.parametrize(
    ("secret", "tail"),
    [
        ("", ""),
        ("short", ""),
        ("elevenchars", ""),
        ("twelve-chars", "rs"),
        ("nineteen-characters", "rs"),
        ("sk_live_0123456789abcdef", "cdef"),
    ],
)
def test_masked_tail_shows_at_most_four_and_nothing_for_short_secrets(
    secret: str, tail: str
) -> None:
    assert masked_tail(secret) == tail
    assert len(masked_tail(secret)) <= 4


def test_associated_data_binds_every_coordinate() -> None:
    key = AESGCM(os.urandom(32))
    nonce = os.urandom(12)
    sealed = key.encrypt(nonce, b"secret", secret_aad("t1", "c1", "live:api_key", 1))
    assert key.decrypt(nonce, sealed, secret_aad("t1", "c1", "live:api_key", 1)) == b"secret"
    for other in [
        secret_aad("t2", "c1", "live:api_key", 1),
        secret_aad("t1", "c2", "live:api_key", 1),
        secret_aad("t1", "c1", "live:password", 1),
        secret_aad("t1", "c1", "live:api_key", 2),
    ]:
        with pytest.raises(InvalidTag):
            key.decrypt(nonce, sealed, other)


def test_associated_data_is_unambiguous() -> None:
    # Concatenation without structure would make these collide.
    assert secret_aad("ab", "c", "f", 1) != secret_aad("a", "bc", "f", 1)


def test_local_master_key_detects_a_different_key() -> None:
    one, two = LocalMasterKey(os.urandom(32)), LocalMasterKey(os.urandom(32))
    nonce, wrapped = one.wrap(b"k" * 32, b"aad")
    assert one.unwrap(nonce, wrapped, b"aad") == b"k" * 32
    with pytest.raises(WrongMasterKey):
        two.unwrap(nonce, wrapped, b"aad")
    assert one.kek_id != two.kek_id
    assert "LocalMasterKey" in repr(one) and one.kek_id in repr(one)


def test_every_sealed_place_keeps_the_bytes_rows_were_sealed_with() -> None:
    """Existing rows stay readable: each constructor spells exactly the associated data
    the modules wrote by hand before `SealedPlace` (f"{purpose}:{name}", "oauth-flow:…",
    "oauth-client:…"), byte for byte."""
    cases = [
        (
            SealedPlace.connection_secret("w1", "c1", "live", "api_key"),
            b'["secret-v1","w1","c1","live:api_key",3]',
        ),
        (
            SealedPlace.connection_secret("a1", "c2", "test", "client_secret"),
            b'["secret-v1","a1","c2","test:client_secret",3]',
        ),
        (
            SealedPlace.oauth_flow("w1", "ab" * 32),
            b'["secret-v1","w1","oauth-flow:' + b"ab" * 32 + b'","pkce_verifier",3]',
        ),
        (
            SealedPlace.oauth_client("github"),
            b'["secret-v1","installation","oauth-client:github","client_secret",3]',
        ),
    ]
    for place, legacy in cases:
        assert place.aad(3) == legacy
    # and a value sealed with the hand-built bytes opens with the place
    key, nonce = AESGCM(os.urandom(32)), os.urandom(12)
    sealed = key.encrypt(nonce, b"old-row", cases[2][1])
    assert key.decrypt(nonce, sealed, cases[2][0].aad(3)) == b"old-row"
