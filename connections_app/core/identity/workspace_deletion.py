"""Deleting a workspace with crypto-shredding (F7): keys first, then rows, then one event.

1. The workspace's data keys are destroyed and that is committed on its own: from then
   on every ciphertext sealed under them (its connections' secrets, pending connect
   flows' verifiers) is noise, even if the process dies before step 2 and even in a
   backup taken afterwards.
2. Every row of the workspace is deleted, children first (`tenancy.workspace_deletion`).
3. One account-level event "Workspace deleted" says who deleted which workspace and how
   many things went with it, never what they held.

Steps 2 and 3 share one transaction; re-running after a crash between 1 and 2 finds the
workspace still there, its keys already gone, and completes. Audit events of the
workspace stay: deleting them would break the account's hash chain (`audit.verify`),
and by construction they hold no secret (names, labels, emails and counts only).
Only admins of the workspace's account may delete it, and never its account's last
workspace (the account screens live inside a workspace).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlmodel import Session

from connections_app.core import alerts, audit, guard
from connections_app.core.audit import Action
from connections_app.core.errors import Conflict, Invalid
from connections_app.core.identity.service import workspaces_for
from connections_app.core.tenancy import workspace_deletion as scope
from connections_app.core.tenancy.actor import Actor
from connections_app.core.vault import Vault


@dataclass(frozen=True)
class DeletionSummary:
    """What deleting a workspace destroys, for the confirmation (counts only)."""

    workspace_id: str
    name: str  # what the person types to confirm
    held: scope.Holdings

    @property
    def lines(self) -> list[str]:
        """The list the confirmation shows, in words."""
        held = self.held
        return [
            plural(held.connections, "connection", "and every stored credential"),
            plural(held.workflows, "workflow", "with their nodes"),
            plural(held.runs, "run", "with their steps and results"),
            plural(held.members, "member", "(their accounts stay; they lose this workspace)"),
            plural(held.clients, "client person", "(their portal access to it)"),
            plural(held.invitations, "client invitation", ""),
            plural(held.connect_links, "connect link", ""),
            plural(held.grants, "grant of an account connection", "to it"),
        ]


@dataclass(frozen=True)
class AccountWorkspace:
    """A workspace on the account admin's Workspaces screen."""

    workspace_id: str
    name: str
    deletable: bool  # the account's last workspace is not


def account_workspaces(db: Session, actor: Actor) -> list[AccountWorkspace]:
    """The account's workspaces for its admins (nobody else: none)."""
    if not actor.is_account_admin:
        return []
    rows = scope.account_workspaces(db, actor)
    return [AccountWorkspace(w.id, w.name, len(rows) > 1) for w in rows]


def plural(count: int, noun: str, tail: str) -> str:
    words = f"{count} {noun}{'' if count == 1 else 's'}"
    return f"{words} {tail}".strip()


def require_account_admin(
    db: Session, actor: Actor, target_id: Any, noun: str = "workspace"
) -> None:
    """Deleting a workspace or an account: account admins only (the refusal is recorded)."""
    if not actor.is_account_admin:
        target = target_id if isinstance(target_id, str) and len(target_id) <= 64 else None
        what = f"delete {'an' if noun[0] in 'aeiou' else 'a'} {noun}"
        raise guard.refuse(
            db,
            actor,
            f"Only account admins can {what}.",
            what=what,
            target_type=noun,
            target_id=target,
        )


def deletion_summary(db: Session, actor: Actor, workspace_id: Any) -> DeletionSummary:
    """What would go: account admins of the workspace's account only."""
    require_account_admin(db, actor, workspace_id)
    workspace = scope.workspace_of_account(db, actor, workspace_id)
    return DeletionSummary(workspace.id, workspace.name, scope.holdings(db, workspace))


def check_typed_name(confirm_name: Any, name: str, noun: str = "workspace") -> None:
    """The typed confirmation: exactly the name, or nothing is deleted."""
    if not isinstance(confirm_name, str) or confirm_name != name:
        raise Invalid(
            f"Type the {noun}'s name exactly (“{name}”) to delete it; nothing was deleted.",
            field="confirm_name",
        )


def shred_keys(
    db: Session, actor: Actor, workspace_id: Any, confirm_name: Any, vault: Vault
) -> DeletionSummary:
    """Step 1: check everything, destroy the workspace's data keys, commit."""
    summary = deletion_summary(db, actor, workspace_id)
    check_typed_name(confirm_name, summary.name)
    if scope.workspace_count(db, actor) <= 1:
        raise Conflict(
            "This is the account's only workspace: create another one before deleting it."
        )
    scope.workspace_of_account(db, actor, summary.workspace_id, for_update=True)
    vault.destroy_tenant_keys(db, tenant_id=summary.workspace_id)
    db.commit()
    return summary


def remove_rows(db: Session, actor: Actor, summary: DeletionSummary) -> None:
    """Steps 2 and 3, in one transaction: the rows, then the event that it happened."""
    workspace = scope.workspace_of_account(db, actor, summary.workspace_id, for_update=True)
    stranded = {
        user_id
        for user_id in scope.session_users(db, workspace)
        if not any(c.workspace_id != workspace.id for c in workspaces_for(db, user_id))
    }
    scope.delete_rows(db, workspace, users_left_without=stranded)
    facts = {"name": workspace.name, **asdict(summary.held)}
    facts["what"] = "data keys destroyed; " + ", ".join(summary.lines)
    event: dict[str, Any] = {"actor_id": actor.user_id, "actor_label": actor.label}
    event |= {"account_id": actor.account_id, "target_id": workspace.id, "detail": facts}
    audit.record(db, action=Action.WORKSPACE_DELETED, target_type="workspace", **event)
    # Every open screen of the workspace hears it (and leaves); the account screens too.
    alerts.changed_in(db, workspace.id)
    alerts.changed_in_account(db, actor.account_id)
    db.commit()


def delete_workspace(
    db: Session, actor: Actor, workspace_id: Any, confirm_name: Any, vault: Vault
) -> DeletionSummary:
    """Delete a workspace for good: keys (committed), then rows and the event."""
    summary = shred_keys(db, actor, workspace_id, confirm_name, vault)
    remove_rows(db, actor, summary)
    return summary
