"""Tables of the OAuth side.

`oauth_flows` holds one pending authorization: the hash of its `state` (the
state itself travels only through the browser and the provider), the PKCE
verifier sealed by the vault, and what the flow is bound to (the initiating
session, workspace, person and target). `oauth_clients` holds an installation's
registration with each provider; its client secret is sealed like any secret.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel

from connections_app.core.clock import utcnow


class OAuthFlow(SQLModel, table=True):
    __tablename__ = "oauth_flows"

    id: str = Field(primary_key=True, max_length=64)  # sha256(state), hex
    session_hash: str = Field(max_length=64, index=True)
    account_id: str = Field(foreign_key="accounts.id", max_length=32)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=32)
    user_id: str = Field(max_length=32)
    app: str = Field(max_length=64)
    target: str = Field(default="new", max_length=64)  # "new" or a connection id to reconnect
    # F16: started from a node's panel, the new connection is selected on that node.
    node_id: str | None = Field(default=None, max_length=32)
    redirect_uri: str = Field(max_length=500)
    verifier_key_version: int
    verifier_nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    verifier_ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    outcome: str | None = Field(default=None, max_length=16)  # connected | reauthorized | failed
    message: str | None = Field(default=None, max_length=500)
    connection_id: str | None = Field(default=None, max_length=32)


class OAuthClientRegistration(SQLModel, table=True):
    __tablename__ = "oauth_clients"

    app: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(max_length=255)
    secret_key_version: int
    secret_nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    secret_ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)
