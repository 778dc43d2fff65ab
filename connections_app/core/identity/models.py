"""People and the tenants they belong to: accounts, workspaces, memberships, sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from connections_app.core.clock import utcnow


def new_id() -> str:
    return uuid.uuid4().hex


class WorkspaceRole(StrEnum):
    ADMIN = "admin"
    BUILDER = "builder"
    VIEWER = "viewer"


class Account(SQLModel, table=True):
    __tablename__ = "accounts"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=120)
    slug: str = Field(max_length=60, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Workspace(SQLModel, table=True):
    __tablename__ = "workspaces"
    __table_args__ = (UniqueConstraint("account_id", "slug", name="uq_workspace_slug"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=32)
    name: str = Field(max_length=120)
    slug: str = Field(max_length=60)
    created_at: datetime = Field(default_factory=utcnow)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str = Field(max_length=254, unique=True, index=True)
    name: str = Field(max_length=120)
    password_hash: str = Field(max_length=255)
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class AccountAdmin(SQLModel, table=True):
    """Account admins manage account-scoped connections, grants and every workspace."""

    __tablename__ = "account_admins"

    account_id: str = Field(foreign_key="accounts.id", primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class WorkspaceMember(SQLModel, table=True):
    __tablename__ = "workspace_members"

    workspace_id: str = Field(foreign_key="workspaces.id", primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=32)
    role: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)


class ClientUser(SQLModel, table=True):
    """A person of the client organization: signs in to the portal of one workspace only."""

    __tablename__ = "client_users"

    workspace_id: str = Field(foreign_key="workspaces.id", primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=32)
    invited_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class UserSession(SQLModel, table=True):
    """Server-side session; only the SHA-256 of the cookie value is stored."""

    __tablename__ = "user_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    workspace_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    last_seen_at: datetime = Field(default_factory=utcnow)


class SignInThrottle(SQLModel, table=True):
    """Failed sign-ins counted per key, shared by every backend worker through the database.

    `key` is the SHA-256 of the key's kind and value (a client address, a normalized
    email, or both): an email typed at the sign-in form is never stored, whether or not
    an account has it. See `identity/throttle.py` for what the counts mean.
    """

    __tablename__ = "sign_in_throttle"
    __table_args__ = (Index("ix_sign_in_throttle_last_failure", "last_failure_at"),)

    key: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=8)
    failures: int = 0
    last_failure_at: datetime = Field(default_factory=utcnow)
    blocked_until: datetime | None = None
    audited_at: datetime | None = None
