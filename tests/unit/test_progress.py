"""The operator's progress bar: a redrawn bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from connections_app.progress import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal_with_rate_and_eta() -> None:
    stream = io.StringIO()
    bar = ProgressBar("re-wrap data keys", stream=stream, every_update=True)
    for done in (0, 50, 100):
        bar(done, 100)
    bar.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in stream.getvalue()
    assert lines[0].startswith("re-wrap data keys: 0/100 (0%)") and lines[0].endswith("ETA ?")
    assert lines[1].startswith("re-wrap data keys: 50/100 (50%)") and "/s ETA " in lines[1]
    assert lines[2].startswith("re-wrap data keys: 100/100 (100%)")


def test_plain_lines_are_throttled_unless_asked_for_every_batch() -> None:
    stream = io.StringIO()
    bar = ProgressBar("re-seal secrets", stream=stream)
    for done in range(0, 101, 10):
        bar(done, 100)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("re-seal secrets: 0/100") and lines[-1].startswith(
        "re-seal secrets: 100/100"
    )
    assert len(lines) < 11


def test_a_terminal_gets_one_redrawn_bar() -> None:
    stream = Terminal()
    bar = ProgressBar("re-seal secrets", stream=stream, width=10)
    bar(0, 4)
    bar(2, 4)
    bar.finish()
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.startswith("\r")
    assert "[#####.....] 2/4 (50%)" in text
