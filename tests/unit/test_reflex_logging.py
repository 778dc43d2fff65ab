"""Reflex's log records go through the app's JSON formatter and carry names, never what a
client sent: the event dump of an unknown handler, a failed argument's value, the
message of an exception raised with argument values, a forged browser report."""

from __future__ import annotations

import inspect
import io
import json
import logging
from collections.abc import Iterator

import pytest
from reflex.app import EventNamespace
from reflex.state import State
from reflex_base.event import Event
from reflex_base.event.processor import base_state_processor, event_processor
from reflex_base.utils import log as reflex_log

from connections_app.core.logging_setup import JsonFormatter
from connections_app.core.redaction import RedactingFilter
from connections_app.ui import reflex_logging
from connections_app.ui.reflex_logging import (
    DUMPING_LOGGERS,
    ReflexEventRecords,
    backend_exception_handler,
    client_text,
    frontend_exception_handler,
    rewrite_at_the_source,
    route_reflex_logs,
)

TOKEN = "q9W2e4R6t8Y0u1I3o5P7a9S2d4F6g8H0j2K4l6Z8x0C"
CANARY = "arg-canary-4f1d2e"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """A root handler set up like the app's (Reflex rewrite, redaction, JSON lines),
    behind another handler that renders tracebacks first, as any other root handler
    with a redacting filter would (the CLI's, in this test session)."""
    stream = io.StringIO()
    earlier = logging.StreamHandler(io.StringIO())
    earlier.addFilter(RedactingFilter())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ReflexEventRecords())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(earlier)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    rewrite_at_the_source()
    yield stream
    root.removeHandler(earlier)
    root.removeHandler(handler)
    root.setLevel(previous)
    for name in DUMPING_LOGGERS:
        logger = logging.getLogger(name)
        for f in [f for f in logger.filters if isinstance(f, ReflexEventRecords)]:
            logger.removeFilter(f)


def _records(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _event(name: str) -> Event:
    """An event as Reflex holds it after `on_event`: handshake headers in router_data."""
    return Event(
        name=name,
        router_data={
            "pathname": "/integrations",
            "headers": {"origin": "http://x", "cookie": f"cx_session={TOKEN}"},
            "token": "tab-token",
        },
        payload={"password": CANARY},
    )


def test_reflex_still_logs_the_shapes_we_rewrite() -> None:
    """Tripwire for a Reflex upgrade: these are the statements the filter rewrites."""
    queue = inspect.getsource(event_processor.EventProcessor._process_queue)
    assert 'f"Error processing event queue entry for {entry.event}' in queue
    transform = inspect.getsource(base_state_processor._transform_event_payload)
    assert "Error transforming event argument '{arg}' with value '{value}'" in transform
    assert "Event data: {data}" in inspect.getsource(EventNamespace.on_event)


def test_an_unknown_handler_is_logged_by_name_only(captured: io.StringIO) -> None:
    name = f"{State.get_full_name()}.no_such_handler"
    logger = logging.getLogger("reflex_base.event.processor.event_processor")
    try:
        raise KeyError(f"No registered handler found for event: {name} {CANARY}")
    except KeyError:
        # Exactly Reflex's statement (event_processor.py, `_process_queue`).
        logger.exception(f"Error processing event queue entry for {_event(name)} [txid=abc]:")
    output = captured.getvalue()
    assert TOKEN not in output and CANARY not in output and "router_data" not in output
    (record,) = _records(captured)
    assert record["message"] == f'refused an event for an unknown handler "{name}"'
    assert "message not logged" in record["exception"]


def test_failed_coercion_logs_the_argument_name_not_its_value(captured: io.StringIO) -> None:
    handler = State.event_handlers["set_is_hydrated"]
    payload = {"value": {"__reflex_form_data__": [[CANARY, CANARY, 1]]}}
    with pytest.raises(ValueError):
        # Reflex's own code path: it logs the warning, then its fallback raises too.
        base_state_processor._prepare_event_payload(handler, payload)
    output = captured.getvalue()
    assert CANARY not in output
    (record,) = _records(captured)
    assert record["message"] == (
        'event payload for handler "State.set_is_hydrated": argument "value" could not be '
        "coerced to its annotated type (value not logged)"
    )


def test_backend_exceptions_log_where_not_what() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    reflex_logging.log.addHandler(handler)

    def handler_with_secret(value: str) -> None:
        int(value)  # ValueError: invalid literal for int() with base 10: '<value>'

    try:
        try:
            handler_with_secret(CANARY)
        except ValueError as err:
            result = backend_exception_handler(err)
    finally:
        reflex_logging.log.removeHandler(handler)
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert CANARY not in line
    assert record["message"].startswith("event handler raised ValueError\nTraceback")
    assert "in handler_with_secret" in record["message"] and "int(value)" in record["message"]
    assert result is not None  # a toast for the person, with no detail


def test_browser_reports_are_one_bounded_json_string(captured: io.StringIO) -> None:
    forged = 'x\n{"level": "ERROR", "message": "forged"}\x00\x1b[31m' + "y" * 10_000
    frontend_exception_handler(Exception(forged))
    (line,) = captured.getvalue().splitlines()
    record = json.loads(line)
    assert record["logger"] == "connections_app.ui.reflex_logging"
    text = record["message"].removeprefix("browser reported an error: ")
    encoded = text.split(" (+", 1)[0]
    assert json.loads(encoded) == forged[:2_000]  # the report, as one JSON string value
    assert "\n" not in record["message"] and "\x00" not in record["message"]
    assert "(+8" in text  # and it says what it dropped
    assert client_text("plain") == '"plain"'


def test_reflex_sinks_write_nothing_of_their_own(
    captured: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under `reflex run`, Reflex attaches a rich console sink to its logger and cuts
    propagation, and attaches it again whenever a Config is built."""
    reflex_log.configure()
    try:
        route_reflex_logs()
        logging.getLogger("reflex.state").warning("first cookie: cx_session=%s", TOKEN)
        reflex_log.configure()  # what `Config()` does again in a worker
        logging.getLogger("reflex.state").warning("second")
    finally:
        reflex_log._reset()
    printed = capsys.readouterr()
    assert "first" not in printed.out + printed.err and "second" not in printed.out + printed.err
    messages = [r["message"] for r in _records(captured)]
    assert messages == ["first cookie: [REDACTED]", "second"]


def test_event_data_tails_are_dropped(captured: io.StringIO) -> None:
    """`EventNamespace.on_event` logs the raw data for a socket without a token."""
    data = {"name": "x", "payload": {"secret": CANARY}, "cookie": f"cx_session={TOKEN}"}
    logging.getLogger("reflex.app").warning(
        f"Received event from session abc with no associated token. This may indicate a "
        f"bug. Event data: {data}"
    )
    (record,) = _records(captured)
    assert CANARY not in record["message"] and TOKEN not in record["message"]
    assert record["message"].endswith("(event data not logged)")


def test_a_queue_error_never_shows_the_event_even_when_its_name_is_unreadable(
    captured: io.StringIO,
) -> None:
    logger = logging.getLogger("reflex_base.event.processor.event_processor")
    logger.error(f"Error processing event queue entry for {{{CANARY}: 1}} [txid=1]:")
    logger.error(f"Error processing event queue entry for {_event('a.b')} [txid=2]:")
    messages = [r["message"] for r in _records(captured)]
    assert messages == ["could not queue the event (unreadable)", 'could not queue the event "a.b"']
