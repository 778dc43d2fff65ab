"""What a provider answers is stored and shown; what we sent it must not come back.

An endpoint that reflects its request (headers, query, body: echo services, debug
endpoints, error pages quoting the `Authorization` header) would otherwise put the
credential into a stored run step, a log line or a page. The runtime builds one
`Masker` per outgoing request from every value that passed through the vault for
it, and from every header and query value the credential application set, and
masks them in the answer before anything else sees it.

Spellings covered: as sent, base64 (standard and URL-safe, at each of the three
byte alignments, so a value embedded in a larger encoded blob is found too),
hex, percent-encoding, JSON and HTML escaping.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "••••"
MIN_LENGTH = 6  # shorter fragments would mask ordinary words (e.g. Freshdesk's "X")


def _base64_cores(raw: bytes) -> set[str]:
    """The part of the base64 encoding that does not depend on neighbouring bytes,
    for each alignment of `raw` inside a longer byte string."""
    found: set[str] = set()
    for offset in range(3):
        padded = b"\0" * offset + raw
        start = -(-offset * 8 // 6)  # characters touched by the filler bytes
        end = (len(padded) * 8) // 6  # characters complete before the unknown tail
        for encoder in (base64.b64encode, base64.urlsafe_b64encode):
            core = encoder(padded).decode()[start:end]
            if core:
                found.add(core)
    return found


def spellings(value: str) -> set[str]:
    raw = value.encode()
    found = {
        value,
        raw.hex(),
        raw.hex().upper(),
        quote(value, safe=""),
        quote_plus(value),
        json.dumps(value, ensure_ascii=True)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        html.escape(value),
        *_base64_cores(raw),
    }
    return {s for s in found if len(s) >= MIN_LENGTH}


class Masker:
    """Replaces every spelling of a request's sensitive values with a mask.

    Spellings are worked out on first use: the run-time path builds a masker for
    every request, but only an answer that is kept needs them.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: list[str] = []
        self._cached: list[str] | None = None
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        if isinstance(value, str) and len(value) >= MIN_LENGTH and value not in self._values:
            self._values.append(value)
            self._cached = None

    @property
    def _spellings(self) -> list[str]:
        if self._cached is None:
            merged: set[str] = set()
            for value in self._values:
                merged |= spellings(value)
            self._cached = sorted(merged, key=len, reverse=True)  # longest first
        return self._cached

    def __bool__(self) -> bool:
        return bool(self._values)

    def text(self, text: str) -> str:
        for spelling in self._spellings:
            if spelling in text:
                text = text.replace(spelling, MASK)
        return text

    def tail(self, text: str) -> str:
        """Mask a trailing fragment that begins a spelling (text cut inside a secret)."""
        for spelling in self._spellings:
            for size in range(min(len(spelling) - 1, len(text)), 3, -1):
                if text.endswith(spelling[:size]):
                    return text[:-size] + MASK
        return text

    def value(self, data: Any) -> Any:
        """A decoded JSON value with every string (keys included) masked."""
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            return {self.text(str(k)): self.value(v) for k, v in data.items()}
        if isinstance(data, list):
            return [self.value(v) for v in data]
        return data
