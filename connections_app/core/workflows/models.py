"""A workspace's workflows and their nodes (F15, F17).

A node names a catalog app and one of its actions, holds the action's
non-secret parameters, and refers to a connection by id. Deleting the
connection leaves the reference dangling on purpose: the builder shows
"connection missing" and runs fail clearly (F19).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from connections_app.core.clock import utcnow
from connections_app.core.identity.models import new_id


class Workflow(SQLModel, table=True):
    __tablename__ = "workflows"
    __table_args__ = (UniqueConstraint("workspace_id", "name_key", name="uq_workflow_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspaces.id", index=True, max_length=32)
    name: str = Field(max_length=120)
    name_key: str = Field(max_length=120)
    created_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Node(SQLModel, table=True):
    __tablename__ = "workflow_nodes"
    __table_args__ = (
        Index("ix_nodes_workflow_position", "workflow_id", "position"),
        Index("ix_nodes_workspace_connection", "workspace_id", "connection_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workflow_id: str = Field(foreign_key="workflows.id", max_length=32, ondelete="CASCADE")
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=32)
    position: int
    label: str = Field(max_length=120)
    app: str = Field(max_length=64)
    action: str = Field(max_length=64)
    auth_kind: str | None = Field(default=None, max_length=16)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    connection_id: str | None = Field(default=None, max_length=32)
    updated_at: datetime = Field(default_factory=utcnow)
