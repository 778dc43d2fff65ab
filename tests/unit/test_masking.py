"""Masking what a request carried out of what came back, in every common spelling."""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote, quote_plus

from connections_app.core.connections.masking import MASK, Masker

SECRET = "sk_live_Abc/+def==ghi&jkl<mno>"


def test_every_spelling_is_masked() -> None:
    masker = Masker([SECRET])
    raw = SECRET.encode()
    spellings = [
        SECRET,
        raw.hex(),
        raw.hex().upper(),
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        html.escape(SECRET),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    ]
    for spelling in spellings:
        out = masker.text(f"before {spelling} after")
        assert SECRET not in out and spelling not in out and MASK in out, spelling


def test_base64_of_a_larger_blob_is_masked_at_every_alignment() -> None:
    masker = Masker([SECRET])
    for prefix in ("", "x", "xy", "xyz", "Authorization: "):
        blob = base64.b64encode(f"{prefix}{SECRET} trailing".encode()).decode()
        assert MASK in masker.text(blob), prefix


def test_json_values_and_keys_are_masked_after_decoding() -> None:
    masker = Masker([SECRET])
    answer = json.loads(json.dumps({"headers": {"x-api-key": SECRET}, SECRET: [SECRET, 1]}))
    masked = masker.value(answer)
    assert SECRET not in json.dumps(masked) and SECRET not in str(masked)
    assert masked["headers"]["x-api-key"] == MASK


def test_a_fragment_cut_at_the_end_is_masked() -> None:
    masker = Masker([SECRET])
    assert masker.tail("answer: " + SECRET[:9]) == "answer: " + MASK


def test_short_values_are_not_masked_everywhere() -> None:
    masker = Masker(["X", "ab"])
    assert masker.text("X marks the spot; abc") == "X marks the spot; abc"
