"""Checks shared by every service: inputs arrive from browsers, CLIs and routes as hostile."""

from __future__ import annotations

import re
from typing import Any

from connections_app.core.errors import Invalid

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(
    value: Any, *, field: str, label: str, max_length: int, required: bool = True
) -> str:
    """A single-line human string: str, trimmed, no control characters, bounded."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{label} must be text.", field=field)
    text = value.strip()
    if required and not text:
        raise Invalid(f"{label} is required.", field=field)
    if len(text) > max_length:
        raise Invalid(f"{label} must be at most {max_length} characters.", field=field)
    if _CONTROL.search(text):
        raise Invalid(f"{label} contains control characters.", field=field)
    return text
