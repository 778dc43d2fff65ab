"""The logging filter blanks every spelling of a secret the vault has seen."""

from __future__ import annotations

import base64
import io
import json
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


TOKEN = "Zq8sX2mN4pR7tV1wY5bC9dF3gH6jK0lM2nP4qS7uW9x"
REF = "9f2c" * 16


def test_credential_headers_are_blanked_in_every_spelling_a_log_shows() -> None:
    """Reflex dumps events as Python reprs with the handshake headers; HTTP libraries
    log header lines; ASGI scopes hold byte pairs; JSON dumps use double quotes."""
    spellings = [
        f"Event(name='x', router_data={{'headers': {{'cookie': 'cx_session={TOKEN}; a=b'}}}})",
        f'{{"headers": {{"Cookie": "theme=dark; cx_session={TOKEN}"}}}}',
        f"[(b'host', b'h'), (b'cookie', b'cx_session={TOKEN}'), (b'x', b'y')]",
        f"HeaderData(host='h', cookie='cx_session_ref={REF}', origin='o')",
        f"GET / HTTP/1.1\r\nCookie: cx_session={TOKEN}\r\nHost: h",
        f"Set-Cookie: cx_session={TOKEN}; HttpOnly; Path=/",
        f"{{'authorization': 'Basic {TOKEN}'}}",
        f"Authorization: Bearer {TOKEN}",
        f"retrying with bearer {TOKEN}",
        f"the cookie was cx_session={TOKEN} and the reference cx_session_ref={REF}",
    ]
    for text in spellings:
        scrubbed = redaction.scrub(text)
        assert TOKEN not in scrubbed and REF not in scrubbed, scrubbed
        assert redaction.REDACTED in scrubbed
    # What surrounds a credential stays readable.
    assert redaction.scrub(spellings[0]).startswith("Event(name='x', router_data={'headers'")
    assert redaction.scrub(spellings[4]).endswith("Host: h")


def test_a_renamed_session_cookie_is_protected_too() -> None:
    redaction.protect_cookie_names(["acme_sid", "acme_sid_ref"])
    try:
        assert TOKEN not in redaction.scrub(f"ws handshake: acme_sid={TOKEN}&x=1")
        assert REF not in redaction.scrub(f"acme_sid_ref={REF}")
        assert TOKEN not in redaction.scrub(f"cx_session={TOKEN}")  # the default stays
    finally:
        redaction.protect_cookie_names([])


def test_an_invitation_links_token_is_blanked_in_access_log_lines() -> None:
    token = "q2Vd8Z-xT_0aB1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV"
    stream = io.StringIO()
    log = _logger(stream)
    log.info('127.0.0.1 - "GET /invite/%s HTTP/1.1" 200', token)
    log.info("POST http://localhost:8000/invite/%s?x=1 -> 303", token)
    output = stream.getvalue()
    assert token not in output
    assert output.count("/invite/[REDACTED]") == 2
    assert redaction.scrub("/invite/ and /invites page") == "/invite/ and /invites page"


def test_ordinary_text_is_left_alone() -> None:
    text = "Token refreshed. cookie jar empty; session_ref missing; Basic plan"
    assert redaction.scrub(text) == text


def test_json_lines_stay_one_line_whatever_the_message() -> None:
    stream = io.StringIO()
    log = _logger(stream)
    hostile = 'a\nb\r\n{"level": "ERROR"}\x00\x1b[31m\u2028\u2029\x85' + "z" * 40_000
    log.error("client said %s", hostile)
    try:
        raise ValueError(hostile)
    except ValueError:
        log.exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    for line in lines:
        record = json.loads(line)
        assert "\x00" not in line and "\x1b" not in line
        assert len(record["message"]) < 17_000  # bounded
    assert json.loads(lines[0])["message"].startswith('client said a\nb\r\n{"level"')
