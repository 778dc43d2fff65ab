"""A database-agnostic dump: every row of every table, bytes in raw, hex and base64."""

from __future__ import annotations

import base64

from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine


def dump(engine: Engine) -> str:
    meta = MetaData()
    meta.reflect(bind=engine)
    parts: list[str] = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        raw = bytes(value)
                        parts += [raw.decode("latin-1"), raw.hex(), base64.b64encode(raw).decode()]
                    else:
                        parts.append(str(value))
                parts.append("\n")
    return "|".join(parts)


def leaks(text: str, secret: str) -> list[str]:
    """Which spellings of `secret` appear in `text`."""
    raw = secret.encode()
    spellings = {
        "raw": secret,
        "hex": raw.hex(),
        "base64": base64.b64encode(raw).decode().rstrip("="),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    return [name for name, value in spellings.items() if value in text]
