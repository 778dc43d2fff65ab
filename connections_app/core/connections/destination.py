"""Where a secret may go: the destination it was entered (or authorized) for (F5).

A secret is sealed together with a fingerprint of its connection's destination
fields (base URL, subdomain, OAuth endpoints, header name: whatever the catalog
marks `destination`). Opening a secret whose fingerprint no longer matches the
connection's current destination is refused, so moving a connection's endpoint
can never carry its stored secret along, whichever code path changed it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from connections_app.core.catalog.models import AuthMethod

FINGERPRINT_VERSION = "dest-v1"


def destination_values(method: AuthMethod, config: Mapping[str, Any]) -> dict[str, str]:
    return {f.name: str(config.get(f.name, "")) for f in method.destination_fields}


def fingerprint(app: str, method: AuthMethod, config: Mapping[str, Any]) -> str:
    """SHA-256 over the app, the auth kind and the destination fields' values."""
    names = tuple(f.name for f in method.destination_fields)
    return _fingerprint(app, method.kind, names, tuple(str(config.get(n, "")) for n in names))


@lru_cache(maxsize=4096)
def _fingerprint(app: str, kind: str, names: tuple[str, ...], values: tuple[str, ...]) -> str:
    # Cached: every request made with a connection checks its secret rows against this.
    body = [FINGERPRINT_VERSION, app, kind, dict(zip(names, values, strict=True))]
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def changed_fields(
    method: AuthMethod, before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[str]:
    """The destination fields whose value differs between two configurations."""
    old, new = destination_values(method, before), destination_values(method, after)
    return sorted(name for name in old if old[name] != new[name])
