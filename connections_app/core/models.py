"""Every table of the core in one import, for Alembic and for creating test databases."""

from sqlmodel import SQLModel

from connections_app.core.audit import AuditEvent, AuditHead
from connections_app.core.connections.models import (
    Connection,
    ConnectionSecret,
    ConnectLink,
    Grant,
)
from connections_app.core.identity.invitation_models import ClientInvitation
from connections_app.core.identity.models import (
    Account,
    AccountAdmin,
    ClientUser,
    SignInThrottle,
    User,
    UserSession,
    Workspace,
    WorkspaceMember,
)
from connections_app.core.metering.models import GrantSpend, ModelPrice
from connections_app.core.oauth.models import AccountOAuthApp, OAuthClientRegistration, OAuthFlow
from connections_app.core.vault import DataKey, VaultCheck
from connections_app.core.workflows.models import Node, Workflow

metadata = SQLModel.metadata

__all__ = [
    "Account",
    "AccountAdmin",
    "AccountOAuthApp",
    "AuditEvent",
    "AuditHead",
    "ClientInvitation",
    "ClientUser",
    "ConnectLink",
    "Connection",
    "ConnectionSecret",
    "DataKey",
    "Grant",
    "GrantSpend",
    "ModelPrice",
    "Node",
    "OAuthClientRegistration",
    "OAuthFlow",
    "SignInThrottle",
    "User",
    "UserSession",
    "VaultCheck",
    "Workflow",
    "Workspace",
    "WorkspaceMember",
    "metadata",
]
