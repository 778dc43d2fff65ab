"""The caller of every core function: always re-derived server-side (session cookie,
CLI operator, system task), never taken from event arguments (invariant 2)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    BUILDER = "builder"
    VIEWER = "viewer"
    CLIENT = "client"


@dataclass(frozen=True)
class Actor:
    """The caller, always re-derived server-side (session cookie, CLI operator, system task)."""

    user_id: str | None
    label: str
    account_id: str
    workspace_id: str | None
    role: Role | None
    is_account_admin: bool = False

    @property
    def is_workspace_admin(self) -> bool:
        return self.workspace_id is not None and (self.role == Role.ADMIN or self.is_account_admin)

    @property
    def is_client(self) -> bool:
        return self.role == Role.CLIENT

    @classmethod
    def operator(cls, *, account_id: str, workspace_id: str | None, label: str) -> Actor:
        """A trusted operator (CLI on the server): acts as account admin."""
        return cls(
            user_id=None,
            label=label,
            account_id=account_id,
            workspace_id=workspace_id,
            role=Role.ADMIN if workspace_id else None,
            is_account_admin=True,
        )
