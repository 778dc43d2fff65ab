"""Read-models handed to the UI, the CLI and routes: never a secret, at most a masked tail."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SIGN_IN_KIND = "oauth2"  # the one kind whose credential comes from a provider sign-in


@dataclass(frozen=True)
class ConnectionActions:
    """What the actor may do with one connection right now, as buttons.

    Role × sharing (and scope) come in through `allowed` (the tenancy table's answer);
    kind and status decide which of those operations make sense at the moment:
    a signed-in connection is reconnected rather than rotated, only an active one
    can be refreshed, a revoked one cannot be revoked again. Screens render these
    flags and never compare kinds or statuses themselves; the services check the
    operation again when it is asked for.
    """

    see_settings: bool = False
    see_history: bool = False
    test: bool = False
    edit: bool = False
    rotate: bool = False
    reconnect: bool = False
    refresh: bool = False
    revoke: bool = False
    delete: bool = False
    set_test_credentials: bool = False
    # F32: the "Use for embedded workflows" switch (manage level, workspace connections)
    embed: bool = False

    @classmethod
    def decide(cls, *, allowed: frozenset[str], kind: str, status: str) -> ConnectionActions:
        signed_in = kind == SIGN_IN_KIND
        live = status != "revoked"
        return cls(
            see_settings="view_config" in allowed,
            see_history="view_audit" in allowed,
            test="test" in allowed,
            edit="update" in allowed,
            rotate="rotate" in allowed and not signed_in,
            # Account sign-ins too: only account admins hold `rotate` on them (a workspace
            # they are granted to has use level), and they reconnect on the account screens.
            reconnect="rotate" in allowed and signed_in,
            # "Refresh now" is a troubleshooting tool of those who may also test: a
            # client (rotate and revoke only, F24) reconnects or revokes, nothing more.
            refresh="rotate" in allowed and "test" in allowed and signed_in and status == "active",
            # F24: whoever entered or signed in may withdraw it (a client, its own).
            revoke="revoke" in allowed and live,
            delete="delete" in allowed,
            set_test_credentials="update" in allowed and "rotate" in allowed and not signed_in,
            embed="embed" in allowed,
        )


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
    # F9: the account's name on an account connection shown in a workspace (it reaches
    # the workspace through a grant); "" on the account's own screens and for own rows.
    granted_by: str = ""
    # F24: the client's name when a client of the workspace authorized it ("Authorized
    # by <client>"); "" when a member of the agency did.
    authorized_by_name: str = ""

    @property
    def actions(self) -> ConnectionActions:
        return ConnectionActions.decide(allowed=self.allowed, kind=self.kind, status=self.status)

    @property
    def scope_label(self) -> str:
        """Where the connection lives, in the words every screen shows."""
        if self.scope != "account":
            return "This workspace"
        if self.granted_by:
            return f"Granted by {self.granted_by}"
        return "Account"

    @property
    def via_sign_in(self) -> bool:
        """The credential is tokens from a provider sign-in (reconnect, never retyped)."""
        return self.kind == SIGN_IN_KIND

    @property
    def broken(self) -> bool:
        """In error (a rejected key saved anyway, a refused refresh): it says why, once."""
        return self.status == "error"

    @property
    def awaits_setup(self) -> bool:
        """Saved but not usable yet; `status_reason` says what it waits for."""
        return self.status == "pending" and bool(self.status_reason)

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
    workspace_id: str = ""
    workspace_name: str = ""  # set for account connections (used in several workspaces)


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
