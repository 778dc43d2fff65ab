"""Reflex's log output, made safe: one JSON-lines stream, no event dumps, no values.

Under its CLI, Reflex attaches rich console sinks of its own to the `reflex` logger
(`reflex_base/utils/log.py`) and re-attaches them whenever a `Config` is built, and
granian configures its loggers again in every worker. `route_reflex_logs` sends
all of it through the app's JSON formatter and redacting filter
(`core/logging_setup.py`).

Some Reflex records carry what a client sent: an unknown handler name is logged
with the whole event (router data with the handshake headers, and the payload),
a failed argument coercion with the argument's value, and exceptions raised
while handling an event often quote argument values in their message.
`ReflexEventRecords` rewrites those records to names only, and the exception
handlers installed on `rx.App` log bounded, JSON-encoded text (browser reports)
or the exception type and stack without its message (backend errors).
"""

import json
import logging
import re
import traceback
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from connections_app.core import outage
from connections_app.core.logging_setup import configure_logging, forward_to_root, route_to_root
from connections_app.core.settings import get_settings

log = logging.getLogger(__name__)

MAX_CLIENT_TEXT = 2_000
MAX_NAME = 200
_EVENT_LOGGERS = ("reflex", "engineio", "socketio")
# The loggers of the statements that dump events or argument values. The rewrite is
# attached to them too, so it runs before any handler whatever else is on the root
# logger (a handler's filter may already have rendered the traceback with its message).
DUMPING_LOGGERS = (
    "reflex.app",
    "reflex_base.event.processor.event_processor",
    "reflex_base.event.processor.base_state_processor",
)
_QUOTED = r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
_QUEUE_ERROR = "Error processing event queue entry for "
_EVENT_NAME = re.compile(r"Event\(name=" + _QUOTED)  # matched at the message's offset
_COERCION = re.compile(
    r"^Error transforming event payload for handler (?P<handler>\S+): "
    r"(?:Error transforming event argument " + _QUOTED + r")?",
    re.S,
)
_EVENT_DATA = re.compile(
    r"^(?P<head>.*?)\s*(?:Event data|Failed to deserialize event data):.*$", re.S
)


def client_text(value: Any, limit: int = MAX_CLIENT_TEXT) -> str:
    """Client-supplied text as one bounded JSON string: no raw newline, NUL or ANSI
    escape survives, so it can never start a log line of its own or style a terminal."""
    text = value if isinstance(value, str) else str(value)
    cut = len(text) > limit
    encoded = json.dumps(text[:limit], ensure_ascii=True)
    return f"{encoded} (+{len(text) - limit} characters dropped)" if cut else encoded


def _unquote(literal: str) -> str:
    """The text of a repr'd string literal, without evaluating anything."""
    body = literal[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def traceback_without_values(exc: BaseException) -> str:
    """Where it failed, not with what: frames (file, line, function, source line) and
    exception types, never an exception message (messages quote argument values)."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        lines = ["Traceback (most recent call last):"]
        for frame in traceback.extract_tb(current.__traceback__):
            lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
            if frame.line:
                lines.append(f"    {frame.line}")
        kind = type(current)
        lines.append(f"{kind.__module__}.{kind.__qualname__} (message not logged)")
        parts.append("\n".join(lines))
        current = current.__cause__ or current.__context__
    return "\n\nwhile handling, or caused by:\n\n".join(reversed(parts))


class ReflexEventRecords(logging.Filter):
    """Rewrite Reflex's records about events so that they name things, nothing more."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(_EVENT_LOGGERS):
            return True
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        unknown = record.exc_info is not None and isinstance(record.exc_info[1], KeyError)
        rewritten = _rewrite(message, unknown_handler=unknown)
        if rewritten is not message:
            record.msg, record.args = rewritten, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = traceback_without_values(record.exc_info[1])
            record.exc_info = None
        return True


def _rewrite(message: str, *, unknown_handler: bool = False) -> str:
    if message.startswith(_QUEUE_ERROR):  # the whole event follows: keep its name only
        match = _EVENT_NAME.match(message, len(_QUEUE_ERROR))
        name = client_text(_unquote(match.group(1)), MAX_NAME) if match else "(unreadable)"
        if unknown_handler:
            return f"refused an event for an unknown handler {name}"
        return f"could not queue the event {name}"
    if match := _COERCION.match(message):
        handler = client_text(match.group("handler"), MAX_NAME)
        argument = client_text(_unquote(match.group(2)), MAX_NAME) if match.group(2) else "?"
        return (
            f"event payload for handler {handler}: argument {argument} could not be "
            "coerced to its annotated type (value not logged)"
        )
    if match := _EVENT_DATA.match(message):
        return f"{match.group('head')} (event data not logged)"
    return message


def route_reflex_logs() -> None:
    """Every Reflex and granian record goes to the root JSON handler, now and after
    Reflex re-attaches its sinks (it does whenever a Config is built)."""
    from reflex_base.utils import log as reflex_log  # Reflex 0.10's logging pipeline

    reflex_logger = logging.getLogger("reflex")
    sinks = [reflex_log._console_handler(), reflex_log._json_handler(), *reflex_logger.handlers]
    for sink in sinks:
        forward_to_root(sink)
    route_to_root()


def rewrite_at_the_source() -> None:
    for name in DUMPING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ReflexEventRecords) for f in logger.filters):
            logger.addFilter(ReflexEventRecords())


def install_logging() -> None:
    """The web app's logging: JSON lines, Reflex's event records rewritten, redaction of
    the session cookie (and its reference) by name, Reflex's and granian's output routed
    through it. Called first thing when the app module loads, so that even warnings
    raised by the imports after it are JSON records."""
    settings = get_settings()
    configure_logging(
        settings.log_level,
        session_cookie=settings.session_cookie_name,
        record_filters=[ReflexEventRecords()],
    )
    rewrite_at_the_source()
    route_reflex_logs()


def frontend_exception_handler(exception: Exception) -> None:
    """Browser error reports (the `handle_frontend_exception` event and the `client_error`
    socket event, both callable by any client): bounded and JSON-encoded."""
    log.error("browser reported an error: %s", client_text(str(exception)))


def backend_exception_handler(exception: Exception) -> EventSpec | None:
    """A handler raised: log where (no message, no argument values); tell the person
    plainly, without details. A database outage is not a bug: one warning line and
    "temporarily unavailable" (the next event after the database is back works)."""
    if outage.is_outage(exception):
        outage.note("an event handler", exception)
        return rx.toast.error(outage.MESSAGE, id="backend_unavailable")
    log.error(
        "event handler raised %s\n%s",
        type(exception).__qualname__,
        traceback_without_values(exception),
    )
    return rx.toast.error(
        "Something went wrong. Try again; if it keeps happening, tell your administrator.",
        id="backend_error",
    )
