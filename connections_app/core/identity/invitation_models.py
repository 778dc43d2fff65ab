"""Invitations of client people to a workspace's portal (F24).

Only the SHA-256 of the link's token is stored: the raw token is shown to the
inviting admin once and lives on only in the link they send. Whether an invitation
is pending, used, expired or revoked is derived from the timestamps, never stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from connections_app.core.clock import utcnow
from connections_app.core.identity.models import new_id


class ClientInvitation(SQLModel, table=True):
    __tablename__ = "client_invitations"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="accounts.id", max_length=32)
    workspace_id: str = Field(foreign_key="workspaces.id", index=True, max_length=32)
    email: str = Field(max_length=254)
    name: str | None = Field(default=None, max_length=120)
    token_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime
    created_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    used_at: datetime | None = None
    used_by: str | None = Field(default=None, max_length=32)
    revoked_at: datetime | None = None
    revoked_by: str | None = Field(default=None, max_length=32)
