"""Structured (JSON-lines) logs with secret redaction on every record the process writes.

One handler on the root logger writes every record as one JSON object on one
line, after the redacting filter. Libraries that bring their own handlers
(Reflex attaches rich console sinks under its CLI, granian configures its own
loggers in each worker) are routed into that handler instead: their handlers
are removed and their records propagate, and a handler we cannot remove for
good gets `ForwardToRoot`. So no record reaches the output unformatted or
unredacted, and text from a client can never start a log line of its own
(JSON escapes every control character; the line separators JSON leaves alone
are escaped here, and over-long values are cut).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

from connections_app.core.redaction import RedactingFilter, protect_cookie_names, scrub

# Loggers of libraries that may attach handlers of their own.
FOREIGN_LOGGERS = (
    "reflex",
    "granian",
    "_granian",
    "granian.access",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "sqlalchemy",
    "httpx",
    "engineio",
    "socketio",
    "py.warnings",
)
MAX_MESSAGE_CHARS = 16_000
MAX_EXCEPTION_CHARS = 32_000
# Characters that JSON may leave unescaped but that line-oriented readers (Python's
# str.splitlines among them) treat as line breaks.
_LINE_BREAKS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def bounded(text: str, limit: int) -> str:
    """Cut `text` to `limit` characters, saying how much was dropped."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters dropped]"


def json_line(payload: dict[str, object]) -> str:
    """One JSON object on exactly one line, whatever the values contain."""
    line = json.dumps(payload, ensure_ascii=False, default=str)
    for char, escaped in _LINE_BREAKS.items():
        line = line.replace(char, escaped)
    return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": bounded(scrub(record.getMessage()), MAX_MESSAGE_CHARS),
        }
        if record.exc_text:
            payload["exception"] = bounded(scrub(record.exc_text), MAX_EXCEPTION_CHARS)
        elif record.exc_info:
            text = scrub(self.formatException(record.exc_info))
            payload["exception"] = bounded(text, MAX_EXCEPTION_CHARS)
        if record.stack_info:
            payload["stack"] = bounded(scrub(record.stack_info), MAX_EXCEPTION_CHARS)
        return json_line(payload)


class ForwardToRoot(logging.Filter):
    """For a handler another library owns and may attach again at any time (Reflex's
    console and JSON sinks): the record is handed to the root handlers (JSON,
    redacted) and the foreign handler writes nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        for handler in logging.getLogger().handlers:
            if record.levelno >= handler.level:
                handler.handle(record)
        return False


def forward_to_root(handler: logging.Handler) -> None:
    if not any(isinstance(f, ForwardToRoot) for f in handler.filters):
        handler.addFilter(ForwardToRoot())


def route_to_root(names: Iterable[str] = FOREIGN_LOGGERS) -> None:
    """Take the handlers off these loggers and let their records reach the root handler.

    Idempotent; call it again wherever a library may have reconfigured logging after
    start-up (granian does in every worker process).
    """
    for name in names:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


_configured = False


def configure_logging(
    level: str = "INFO",
    *,
    stream: object = None,
    session_cookie: str | None = None,
    record_filters: Iterable[logging.Filter] = (),
) -> None:
    """Idempotent: the web app, CLI and workers all call it at start.

    `session_cookie` names the session cookie whose value (and `<name>_ref`
    reference) is blanked wherever it shows up; `record_filters` run on every
    record before redaction (the web app rewrites Reflex's event dumps there).
    """
    global _configured
    redactor = RedactingFilter()
    root = logging.getLogger()
    if not _configured:
        handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
        handler.setFormatter(JsonFormatter())
        handler.addFilter(redactor)
        root.addHandler(handler)
        logging.captureWarnings(True)  # warnings become records, not raw stderr lines
        _configured = True
    if session_cookie:
        protect_cookie_names([session_cookie, f"{session_cookie}_ref"])
    root.setLevel(level)
    # httpx logs every request's full URL at INFO: a credential applied as a query
    # parameter would be in it. Its warnings and errors still come through.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    for handler in root.handlers:
        for extra in record_filters:
            if not any(type(f) is type(extra) for f in handler.filters):
                handler.filters.insert(0, extra)  # before redaction freezes the message
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(redactor)
    route_to_root()
