"""Second line of defence: a logging filter that blanks secrets seen by this process.

The first line is that no code logs a secret. Every plaintext that passes through
the vault is remembered here (in this process's memory only, bounded) together
with its base64 and hex spellings, and every log record is scrubbed of them.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections import OrderedDict

_MIN_LENGTH = 6
_MAX_REMEMBERED = 20_000
REDACTED = "[REDACTED]"

_lock = threading.Lock()
_known: OrderedDict[str, None] = OrderedDict()
_pattern: re.Pattern[str] | None = None


def _spellings(secret: str) -> list[str]:
    raw = secret.encode()
    return [
        secret,
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
    ]


def remember(secret: str) -> None:
    """Register a plaintext secret so that logs never show it."""
    global _pattern
    if not isinstance(secret, str) or len(secret) < _MIN_LENGTH:
        return
    with _lock:
        if secret in _known:
            _known.move_to_end(secret)
            return
        _known[secret] = None
        while len(_known) > _MAX_REMEMBERED:
            _known.popitem(last=False)
        _pattern = None


def _current_pattern() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _known:
            alternatives = {s for secret in _known for s in _spellings(secret) if s}
            ordered = sorted(alternatives, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(s) for s in ordered))
        return _pattern


def scrub(text: str) -> str:
    pattern = _current_pattern()
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)


def forget_all() -> None:
    """Tests only: start from an empty registry."""
    global _pattern
    with _lock:
        _known.clear()
        _pattern = None


class RedactingFilter(logging.Filter):
    """Formats the record's message once, scrubs it and freezes it (args cleared)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, scrubbed, so handlers never format the raw one.
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = scrub(formatted)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True
