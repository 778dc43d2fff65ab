"""Connections (F1), their encrypted secret rows and account-connection grants (F9).

A connection row holds only non-secret data plus a masked tail; the secret lives
in `connection_secrets` as AES-GCM ciphertext bound to its row (see vault.py).
`tenant_id` is the owner whose data key encrypts the secrets: the workspace for
workspace scope, the account for account scope. Uniqueness of labels and stable
keys is per owner.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from connections_app.core.clock import utcnow
from connections_app.core.identity.models import new_id


class Kind(StrEnum):
    OAUTH2 = "oauth2"
    API_KEY = "api_key"
    BASIC = "basic"
    DSN = "dsn"
    CUSTOM = "custom"


class Status(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    ERROR = "error"
    REVOKED = "revoked"


class Scope(StrEnum):
    WORKSPACE = "workspace"
    ACCOUNT = "account"


class Sharing(StrEnum):
    """F10: `personal` is its creator's alone; the others share with the team at a level."""

    PERSONAL = "personal"
    USE = "use"
    VIEW = "view"
    MANAGE = "manage"


class Purpose(StrEnum):
    """F28: a connection may carry separate credentials for test-mode runs."""

    LIVE = "live"
    TEST = "test"


class Connection(SQLModel, table=True):
    __tablename__ = "connections"
    __table_args__ = (
        UniqueConstraint("tenant_id", "stable_key", name="uq_connection_stable_key"),
        UniqueConstraint("tenant_id", "label_key", name="uq_connection_label"),
        Index("ix_connections_tenant_app", "tenant_id", "app"),
        Index("ix_connections_tenant_status", "tenant_id", "status"),
        Index("ix_connections_tenant_updated", "tenant_id", "updated_at"),
        # The account connections of one app (granted ones: the picker's second source).
        Index("ix_connections_account_scope_app", "account_id", "scope", "app"),
        # Covers the node picker's own-workspace predicate and its order (F15).
        Index(
            "ix_connections_picker",
            "tenant_id",
            "app",
            "label_key",
            "id",
            "workspace_id",
            "sharing",
            "created_by",
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=32)
    workspace_id: str | None = Field(
        default=None, foreign_key="workspaces.id", index=True, max_length=32
    )
    tenant_id: str = Field(max_length=32)
    scope: str = Field(default=Scope.WORKSPACE, max_length=16)
    app: str = Field(max_length=64)
    label: str = Field(max_length=120)
    label_key: str = Field(max_length=120)
    stable_key: str = Field(max_length=80)
    kind: str = Field(max_length=16)
    status: str = Field(default=Status.PENDING, max_length=16)
    status_reason: str | None = Field(default=None, max_length=500)
    sharing: str = Field(default=Sharing.USE, max_length=16)
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    external_identity: str | None = Field(default=None, max_length=255)
    external_name: str | None = Field(default=None, max_length=255)
    masked_tail: str = Field(default="", max_length=8)
    secret_version: int = 0
    has_test_credentials: bool = False
    test_masked_tail: str = Field(default="", max_length=8, sa_column_kwargs={"server_default": ""})
    embedded_enabled: bool = False
    created_by: str | None = Field(default=None, max_length=32)
    authorized_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    last_success_at: datetime | None = None
    use_count: int = 0
    token_expires_at: datetime | None = None
    last_tested_at: datetime | None = None
    last_test_ok: bool | None = None
    last_test_message: str | None = Field(default=None, max_length=500)
    # OAuth refresh bookkeeping (F20). `token_version` is the fencing token: a
    # refresher that claimed version N may only write if the row still says N.
    token_version: int = 0
    refresh_lease_until: datetime | None = None
    refresh_lease_owner: str | None = Field(default=None, max_length=64)
    refresh_failures: int = 0
    next_refresh_at: datetime | None = Field(default=None, index=True)


class ConnectionSecret(SQLModel, table=True):
    """One encrypted field of a connection's credential (e.g. `api_key`, `password`)."""

    __tablename__ = "connection_secrets"
    __table_args__ = (
        UniqueConstraint("connection_id", "purpose", "field", name="uq_connection_secret_field"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    connection_id: str = Field(
        foreign_key="connections.id", index=True, max_length=32, ondelete="CASCADE"
    )
    tenant_id: str = Field(max_length=32)
    purpose: str = Field(default=Purpose.LIVE, max_length=8)
    field: str = Field(max_length=64)
    key_version: int
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # Fingerprint of the connection's destination when this value was sealed
    # (`destination.fingerprint`): a secret is only ever sent where it was entered for.
    destination: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class Grant(SQLModel, table=True):
    """Binds an account-scoped connection to one workspace, optionally with a spend cap."""

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("connection_id", "workspace_id", name="uq_grant"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=32)
    connection_id: str = Field(
        foreign_key="connections.id", index=True, max_length=32, ondelete="CASCADE"
    )
    workspace_id: str = Field(foreign_key="workspaces.id", index=True, max_length=32)
    monthly_cap_cents: int | None = None
    created_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class ConnectLink(SQLModel, table=True):
    """A workspace admin's request that a client authorize one app (F24).

    Single use, expiring, bound to its workspace, app (and, for a custom provider, the
    account's OAuth app) and to one client person (`client_user_id`) or to any client of
    the workspace (null). Only SHA-256 of the link's token is stored: the raw token is
    shown once to the admin who asked. The state (pending / used / expired / revoked) is
    derived from `used_at`, `revoked_at` and `expires_at`.
    """

    __tablename__ = "connect_links"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspaces.id", index=True, max_length=32)
    app: str = Field(max_length=64)
    oauth_app_id: str | None = Field(default=None, max_length=32)
    label: str = Field(max_length=120)
    client_user_id: str | None = Field(default=None, max_length=32)
    token_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime
    created_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    used_at: datetime | None = None
    used_by: str | None = Field(default=None, max_length=32)
    connection_id: str | None = Field(default=None, max_length=32)
    revoked_at: datetime | None = None
    revoked_by: str | None = Field(default=None, max_length=32)
