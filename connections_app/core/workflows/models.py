"""A workspace's workflows and their nodes (F15, F17).

A node names a catalog app and one of its actions, holds the action's
non-secret parameters, and refers to a connection by id. Deleting the
connection leaves the reference dangling on purpose: the builder shows
"connection missing" and runs fail clearly (F19).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
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


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"  # parked on a broken connection (F22)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NOTHING_RAN = "nothing_ran"  # finished, but every step was skipped (e.g. test mode)


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class Run(SQLModel, table=True):
    """One execution of a workflow. Steps are a snapshot of its nodes at the start, so
    editing the workflow later does not rewrite history."""

    __tablename__ = "workflow_runs"
    __table_args__ = (
        Index("ix_runs_workspace_created", "workspace_id", "created_at"),
        Index("ix_runs_status_waiting_on", "status", "waiting_on"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="accounts.id", max_length=32)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=32)
    workflow_id: str | None = Field(default=None, max_length=32, index=True)
    workflow_name: str = Field(max_length=120)
    mode: str = Field(default="live", max_length=8)  # live | test (F28)
    status: str = Field(default=RunStatus.QUEUED, max_length=16)
    message: str | None = Field(default=None, max_length=500)
    # The connection a parked step waits for; resuming looks runs up by it.
    waiting_on: str | None = Field(default=None, max_length=32)
    started_by: str = Field(max_length=32)
    started_by_label: str = Field(max_length=254)
    # Claim for executing: whoever moves queued/waiting → running owns the run
    # until it parks or finishes, or until the lease runs out (a crashed worker).
    lease_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class RunStep(SQLModel, table=True):
    __tablename__ = "workflow_run_steps"
    __table_args__ = (UniqueConstraint("run_id", "position", name="uq_run_step_position"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    run_id: str = Field(foreign_key="workflow_runs.id", max_length=32, ondelete="CASCADE")
    position: int
    node_id: str | None = Field(default=None, max_length=32)
    label: str = Field(max_length=120)
    app: str = Field(max_length=64)
    action: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    connection_id: str | None = Field(default=None, max_length=32)
    connection_label: str | None = Field(default=None, max_length=120)
    status: str = Field(default=StepStatus.PENDING, max_length=16)
    message: str | None = Field(default=None, max_length=500)
    http_status: int | None = None
    # What the app answered, trimmed; never a request header, so never a credential.
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
