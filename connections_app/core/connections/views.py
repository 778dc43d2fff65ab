"""Read-models handed to the UI, the CLI and routes: never a secret, at most a masked tail."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ConnectionView:
    id: str
    app: str
    app_name: str
    app_icon: str
    label: str
    kind: str
    status: str
    status_reason: str | None
    scope: str
    sharing: str
    stable_key: str
    masked_tail: str
    config: dict[str, str] | None  # None when the actor may not see configuration
    external_identity: str | None
    external_name: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None
    use_count: int
    token_expires_at: datetime | None
    last_tested_at: datetime | None
    last_test_ok: bool | None
    last_test_message: str | None
    has_test_credentials: bool
    embedded_enabled: bool
    granted: bool
    allowed: frozenset[str] = field(default_factory=frozenset)
    test_masked_tail: str = ""  # F28: the test credential's tail, never more

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (CLI `--json`, UI read-models)."""
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.isoformat(timespec="seconds") + "Z"
        data["allowed"] = sorted(self.allowed)
        return data


@dataclass(frozen=True)
class Page:
    items: list[ConnectionView]
    total: int
    page: int
    page_size: int
    more: bool = False  # `total` is a floor: there are more (the count stopped early)
    following: bool | None = None  # known directly: is there a page after this one?

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.following if self.following is not None else self.page < self.pages


@dataclass(frozen=True)
class Usage:
    """A place that references a connection (filled by the workflows domain)."""

    workflow_id: str
    workflow_name: str
    node_id: str
    node_label: str


@dataclass(frozen=True)
class DeleteResult:
    label: str
    broken_usages: list[Usage]


@dataclass(frozen=True)
class TestResult:
    """F14 in plain words; `outcome` is one of valid, invalid_credentials, unreachable,
    unexpected_response, invalid_input."""

    ok: bool
    outcome: str
    message: str
    http_status: int | None = None
    elapsed_ms: int | None = None
    host: str | None = None  # where the test went (audited for unsaved tests)


@dataclass(frozen=True)
class Health:
    """F31: what an admin needs to judge whether a connection will work."""

    status: str
    status_reason: str | None
    last_success_at: datetime | None
    last_used_at: datetime | None
    last_tested_at: datetime | None
    last_test_ok: bool | None
    last_test_message: str | None
    token_expires_at: datetime | None
    failures_24h: int
    # The one message the details panel shows about this connection's state (a
    # problem, or the verdict of the latest test), and whether it is good news. A later
    # success replaces an old failure, so a stale "HTTP 401" never sits next to Active.
    notice: str | None = None
    notice_ok: bool = False
