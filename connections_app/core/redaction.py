"""Second line of defence: a logging filter that blanks secrets seen by this process.

The first line is that no code logs a secret. Every plaintext that passes through
the vault is remembered here (in this process's memory only, bounded) together
with its base64 and hex spellings, and every log record is scrubbed of them.

Credentials that never pass through the vault are recognised by their shape
instead: the values of the headers that carry them (Cookie, Set-Cookie,
Authorization) in every spelling a log shows — an HTTP header line, a Python or
JSON mapping, an ASGI `(b'cookie', b'...')` pair, a dataclass repr — the value of
the session cookie and of its websocket reference wherever `name=value` appears,
bearer tokens, and the token in a capability link's path (`/invite/<token>`).
Reflex's dumps of an event (router data and handshake headers included) are
covered by these shapes whatever else they contain.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable

_MIN_LENGTH = 6
_MAX_REMEMBERED = 20_000
REDACTED = "[REDACTED]"

_lock = threading.Lock()
_known: OrderedDict[str, tuple[str, ...]] = OrderedDict()
# Spellings indexed by their first _MIN_LENGTH characters: scrubbing is one pass over
# the text with a dict lookup per position, whatever the number of known secrets
# (a regex alternation over thousands of secrets was rebuilt after every new one).
_by_prefix: dict[str, list[str]] = {}


def _spellings(secret: str) -> tuple[str, ...]:
    raw = secret.encode()
    found = {
        secret,
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
    }
    return tuple(s for s in found if len(s) >= _MIN_LENGTH)


def _index(spelling: str) -> None:
    bucket = _by_prefix.setdefault(spelling[:_MIN_LENGTH], [])
    if spelling not in bucket:
        bucket.append(spelling)
        bucket.sort(key=len, reverse=True)  # longest match wins


def _unindex(spelling: str) -> None:
    key = spelling[:_MIN_LENGTH]
    bucket = _by_prefix.get(key)
    if bucket and spelling in bucket:
        bucket.remove(spelling)
        if not bucket:
            del _by_prefix[key]


def remember(secret: str) -> None:
    """Register a plaintext secret so that logs never show it."""
    if not isinstance(secret, str) or len(secret) < _MIN_LENGTH:
        return
    with _lock:
        if secret in _known:
            _known.move_to_end(secret)
            return
        spellings = _spellings(secret)
        _known[secret] = spellings
        for spelling in spellings:
            _index(spelling)
        while len(_known) > _MAX_REMEMBERED:
            _, old = _known.popitem(last=False)
            for spelling in old:
                _unindex(spelling)


_HEADERS = r"(?:set[-_]cookie|cookie|proxy[-_]authorization|authorization)"
# 'cookie': '...'  "cookie": "..."  (b'cookie', b'...')
_QUOTED_PAIR = re.compile(
    r"(?P<key>b?(?P<kq>['\"])" + _HEADERS + r"(?P=kq)\s*[:,]\s*b?)"
    r"(?P<q>['\"])(?:\\.|(?!(?P=q)).)*(?P=q)",
    re.IGNORECASE | re.DOTALL,
)
# cookie='...'  (dataclass and keyword reprs)
_QUOTED_ASSIGNMENT = re.compile(
    r"(?P<key>\b" + _HEADERS + r"\s*=\s*)(?P<q>['\"])(?:\\.|(?!(?P=q)).)*(?P=q)",
    re.IGNORECASE | re.DOTALL,
)
# Cookie: a=b; c=d   (to the end of the line)
_HEADER_LINE = re.compile(r"(?P<key>\b" + _HEADERS + r"[ \t]*:[ \t]*)(?=[^\s'\"])[^\r\n]+", re.I)
# Capability links: the path segment after these prefixes is a single-use token (an
# invitation's or a connect link's), and access logs print request paths.
CAPABILITY_PATHS = ("invite", "connect")
_CAPABILITY_PATH = re.compile(
    r"(?P<key>/(?:" + "|".join(CAPABILITY_PATHS) + r")/)[A-Za-z0-9_\-]{8,}"
)
_BEARER = re.compile(r"(?P<key>\bbearer\s+)[A-Za-z0-9\-._~+/]{8,}=*", re.IGNORECASE)
_DEFAULT_COOKIE_NAMES = ("cx_session", "cx_session_ref")
_cookie_names: tuple[str, ...] = _DEFAULT_COOKIE_NAMES
_cookie_pattern: re.Pattern[str] | None = None


def _named_cookie_pattern() -> re.Pattern[str]:
    global _cookie_pattern
    if _cookie_pattern is None:
        names = "|".join(re.escape(n) for n in sorted(set(_cookie_names), key=len, reverse=True))
        _cookie_pattern = re.compile(r"(?P<key>\b(?:" + names + r")=)[^;,\s'\"\\&]+")
    return _cookie_pattern


def protect_cookie_names(names: Iterable[str]) -> None:
    """Cookies whose value is blanked wherever `name=value` shows up in a log (the session
    cookie and its reference; the defaults cover the default cookie name)."""
    global _cookie_names, _cookie_pattern
    _cookie_names = tuple({*_DEFAULT_COOKIE_NAMES, *(n for n in names if isinstance(n, str) and n)})
    _cookie_pattern = None


def _blank_quoted(match: re.Match[str]) -> str:
    quote = match.group("q")
    return f"{match.group('key')}{quote}{REDACTED}{quote}"


def _blank(match: re.Match[str]) -> str:
    return f"{match.group('key')}{REDACTED}"


def scrub_credentials(text: str) -> str:
    """Blank credentials recognised by their shape (see the module docstring)."""
    if not text:
        return text
    text = _QUOTED_PAIR.sub(_blank_quoted, text)
    text = _QUOTED_ASSIGNMENT.sub(_blank_quoted, text)
    text = _HEADER_LINE.sub(_blank, text)
    text = _named_cookie_pattern().sub(_blank, text)
    text = _CAPABILITY_PATH.sub(_blank, text)
    return _BEARER.sub(_blank, text)


def scrub(text: str) -> str:
    """Blank every remembered secret (any spelling) and every credential-shaped value."""
    return scrub_credentials(_scrub_known(text))


def _scrub_known(text: str) -> str:
    if not text or not _by_prefix:
        return text
    with _lock:
        index = _by_prefix
        parts: list[str] = []
        last = i = 0
        end = len(text) - _MIN_LENGTH
        while i <= end:
            bucket = index.get(text[i : i + _MIN_LENGTH])
            if bucket is not None:
                match = next((s for s in bucket if text.startswith(s, i)), None)
                if match is not None:
                    parts.append(text[last:i])
                    parts.append(REDACTED)
                    i += len(match)
                    last = i
                    continue
            i += 1
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


def forget_all() -> None:
    """Tests only: start from an empty registry."""
    with _lock:
        _known.clear()
        _by_prefix.clear()


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
