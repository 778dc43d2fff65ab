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
