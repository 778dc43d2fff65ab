"""Tables of the OAuth side.

`oauth_flows` holds one pending authorization: the hash of its `state` (the
state itself travels only through the browser and the provider), the PKCE
verifier sealed by the vault, and what the flow is bound to (the initiating
session, workspace, person and target). `oauth_clients` holds an installation's
registration with each provider; its client secret is sealed like any secret.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
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
    # A custom provider's connect flow: which of the account's OAuth apps it uses.
    oauth_app_id: str | None = Field(default=None, max_length=32)
    # "Connect another account": the provider is asked to let the person choose.
    another_account: bool = False
    # "account": an account admin connects an account-scoped connection (F9, F26); the
    # flow stays bound to the admin's session and workspace like any other.
    scope: str = Field(
        default="workspace", max_length=16, sa_column_kwargs={"server_default": "workspace"}
    )
    # Started from a connect link (F24): the connection it creates is the link's answer,
    # and the link is marked used in the same transaction.
    connect_link_id: str | None = Field(default=None, max_length=32)
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


class AccountOAuthApp(SQLModel, table=True):
    """An account's own registration with an OAuth provider (F27, global values).

    For a catalog OAuth app (`app` = its key, at most one per account) it replaces the
    installation's client id and secret; the endpoints stay the catalog's. For a custom
    provider (`app` = "custom_oauth2", several per account, each named) it also holds the
    endpoints, scopes and identity rules. `slot` makes both rules one unique index.
    Connections hold only their tokens: rotating the secret here applies to all of them.
    """

    __tablename__ = "account_oauth_apps"
    __table_args__ = (UniqueConstraint("account_id", "slot", name="uq_account_oauth_app_slot"),)

    id: str = Field(primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=32)
    app: str = Field(max_length=64)
    slot: str = Field(max_length=200)  # the app key, or "custom:<name key>"
    name: str = Field(max_length=120)
    client_id: str = Field(max_length=255)
    secret_key_version: int | None = None  # none: a public client (no secret)
    secret_nonce: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    secret_ciphertext: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary, nullable=True)
    )
    secret_tail: str = Field(default="", max_length=8)
    issuer: str | None = Field(default=None, max_length=512)
    authorize_url: str | None = Field(default=None, max_length=512)
    token_url: str | None = Field(default=None, max_length=512)
    revocation_url: str | None = Field(default=None, max_length=512)
    userinfo_url: str | None = Field(default=None, max_length=512)
    jwks_url: str | None = Field(default=None, max_length=512)
    # RFC 9207: the provider advertises `iss` in authorization responses; one without it
    # is then refused.
    iss_required: bool = False
    scopes: str = Field(default="", max_length=500)
    extra_params: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    token_auth_method: str = Field(default="client_secret_basic", max_length=32)
    pkce: bool = True
    identity_field: str | None = Field(default=None, max_length=120)  # none: OIDC `sub`
    name_field: str | None = Field(default=None, max_length=120)
    test_path: str | None = Field(default=None, max_length=500)
    api_base_url: str | None = Field(default=None, max_length=512)
    created_by: str | None = Field(default=None, max_length=32)
    updated_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
