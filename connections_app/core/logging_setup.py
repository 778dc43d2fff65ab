"""Structured (JSON-lines) logs with secret redaction on every handler that matters.

The redacting filter sits on the handlers and on the loggers of Reflex, granian,
uvicorn and SQLAlchemy, because Reflex logs event payloads when coercion fails
and for unknown handler names.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from connections_app.core.redaction import RedactingFilter, scrub

_THIRD_PARTY = (
    "reflex",
    "granian",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "sqlalchemy",
    "httpx",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        if record.exc_text:
            payload["exception"] = scrub(record.exc_text)
        elif record.exc_info:
            payload["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False)


_configured = False


def configure_logging(level: str = "INFO", *, stream: object = None) -> None:
    """Idempotent: the web app, CLI and workers all call it at start."""
    global _configured
    redactor = RedactingFilter()
    root = logging.getLogger()
    if not _configured:
        handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
        handler.setFormatter(JsonFormatter())
        handler.addFilter(redactor)
        root.addHandler(handler)
        _configured = True
    root.setLevel(level)
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(redactor)
    for name in _THIRD_PARTY:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(redactor)
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(redactor)
