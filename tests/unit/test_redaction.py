"""The logging filter blanks every spelling of a secret the vault has seen."""

from __future__ import annotations

import base64
import io
import logging

from connections_app.core import redaction
from connections_app.core.logging_setup import JsonFormatter


def _logger(stream: io.StringIO) -> logging.Logger:
    logger = logging.getLogger(f"test-redaction-{id(stream)}")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(redaction.RedactingFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return logger


def test_known_secret_is_redacted_in_message_args_and_tracebacks() -> None:
    secret = "sk_live_CANARY_9d8f7e6d5c4b"
    redaction.remember(secret)
    stream = io.StringIO()
    log = _logger(stream)
    log.info("calling with %s", secret)
    log.info("b64 %s hex %s", base64.b64encode(secret.encode()).decode(), secret.encode().hex())
    try:
        raise ValueError(f"bad key {secret}")
    except ValueError:
        log.exception("failed")
    output = stream.getvalue()
    assert secret not in output
    assert secret.encode().hex() not in output
    assert base64.b64encode(secret.encode()).decode().rstrip("=") not in output
    assert output.count(redaction.REDACTED) >= 4


def test_unknown_text_and_short_values_pass_through() -> None:
    redaction.remember("abc")  # too short to redact safely
    stream = io.StringIO()
    _logger(stream).info("abc is fine, so is everything else")
    assert "abc is fine" in stream.getvalue()


def test_scrub_finds_every_secret_among_thousands() -> None:
    secrets = [f"sk_test_{n:030d}" for n in range(5000)]
    for s in secrets:
        redaction.remember(s)
    text = f"a {secrets[0]} b {secrets[2500]}c{secrets[-1]} {secrets[17].encode().hex()} end"
    scrubbed = redaction.scrub(text)
    assert scrubbed == f"a {redaction.REDACTED} b {redaction.REDACTED}c{redaction.REDACTED} " + (
        f"{redaction.REDACTED} end"
    )


def test_longest_spelling_wins_and_short_values_are_ignored() -> None:
    redaction.remember("abcdef")
    redaction.remember("abcdefghij")
    redaction.remember("abc")  # too short to remember: would blank ordinary words
    assert redaction.scrub("xx abcdefghij yy abcdefz abc") == (
        f"xx {redaction.REDACTED} yy {redaction.REDACTED}z abc"
    )


def test_registry_is_bounded_and_forgets_the_oldest(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(redaction, "_MAX_REMEMBERED", 3)
    for n in range(5):
        redaction.remember(f"secret-value-{n}")
    assert redaction.scrub("secret-value-0") == "secret-value-0"
    assert redaction.scrub("secret-value-4") == redaction.REDACTED
    assert len(redaction._known) == 3
