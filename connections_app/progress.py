"""A progress bar for long operator commands, on stderr (stdout stays for results).

On a terminal it redraws one line (bar, count, rate, ETA); otherwise (a log file, a
pipe, a drill reading it) it prints a plain line per update, at most one a second
unless `every_update`, so logs stay readable and a reader can follow the progress.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    def __init__(
        self,
        label: str,
        *,
        stream: TextIO | None = None,
        width: int = 30,
        every_update: bool = False,
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self.every_update = every_update
        self.started = time.monotonic()
        self._last_line = 0.0
        self._done = 0
        self._total = 0

    def line(self, done: int, total: int) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = done / elapsed
        share = done / total if total else 1.0
        eta = (total - done) / rate if rate > 0 and total > done else 0.0
        text = (
            f"{self.label}: {done}/{total} ({share:.0%}) {rate:,.1f}/s "
            f"ETA {_duration(eta) if done else '?'}"
        )
        if self.tty:
            filled = int(self.width * share)
            text = (
                f"{self.label}: [{'#' * filled}{'.' * (self.width - filled)}] "
                + text.split(": ", 1)[1]
            )
        return text

    def __call__(self, done: int, total: int) -> None:
        self._done, self._total = done, total
        now = time.monotonic()
        if self.tty:
            print("\r" + self.line(done, total), end="", file=self.stream, flush=True)
        elif self.every_update or now - self._last_line >= 1.0 or done >= total:
            print(self.line(done, total), file=self.stream, flush=True)
            self._last_line = now

    def finish(self) -> None:
        if self.tty:
            print("\r" + self.line(self._done, self._total), file=self.stream, flush=True)
