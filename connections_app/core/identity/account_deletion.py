"""Deleting an account with crypto-shredding (F7, "same for an account"): the pattern of
`workspace_deletion`, for every workspace of the account and the account itself.

1. Every data key of the account (its own, which seals account connections, and each
   workspace's) is destroyed and that is committed on its own: from then on every
   ciphertext of the account is noise, even if the process dies before step 2 and even
   in a backup taken afterwards.
2. Every row of every workspace, then the account's own rows, are deleted.
3. One event "Account deleted" in the account's audit chain says who deleted it and how
   many things went with it, never what they held.

Steps 2 and 3 share one transaction; re-running after a crash between 1 and 2 finds the
account still there, its keys already gone, and completes. Audit events stay (the
record that it happened; by construction they hold no secret). Only admins of the
account may delete it (the CLI acts as an operator admin of the account it names).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlmodel import Session

from connections_app.core import alerts, audit
from connections_app.core.audit import Action
from connections_app.core.identity.service import workspaces_for
from connections_app.core.identity.workspace_deletion import (
    check_typed_name,
    plural,
    require_account_admin,
)
from connections_app.core.tenancy import account_deletion as scope
from connections_app.core.tenancy import workspace_deletion as ws_scope
from connections_app.core.tenancy.actor import Actor
from connections_app.core.vault import Vault


@dataclass(frozen=True)
class AccountDeletionSummary:
    """What deleting an account destroys, for the confirmation (counts only)."""

    account_id: str
    name: str  # what the person types to confirm
    workspace_names: tuple[str, ...]
    workspace_ids: tuple[str, ...]
    held: scope.AccountHoldings
    in_workspaces: ws_scope.Holdings  # summed over the workspaces

    @property
    def lines(self) -> list[str]:
        """The list the confirmation shows, in words: the workspaces and their
        connections always, the rest only when there is some."""
        names = ", ".join(f"“{n}”" for n in self.workspace_names)
        ws, held = self.in_workspaces, self.held
        always = [
            plural(len(self.workspace_names), "workspace", f"({names})" if names else ""),
            plural(ws.connections, "workspace connection", "and every stored credential"),
        ]
        if_any = [
            (held.account_connections, "account connection", "with {its} credentials"),
            (ws.workflows, "workflow", "with {its} nodes"),
            (ws.runs, "run", "with {its} steps and results"),
            (ws.members, "membership", "(people keep their sign-in)"),
            (ws.clients + ws.invitations, "client access or invitation", ""),
            (ws.connect_links, "connect link", ""),
            (ws.grants, "grant", ""),
            (held.oauth_apps, "account OAuth app", ""),
            (held.admins, "account admin", "(people keep their sign-in)"),
        ]
        return always + [
            plural(n, noun, tail.format(its="its" if n == 1 else "their"))
            for n, noun, tail in if_any
            if n
        ]


def _sum(parts: list[ws_scope.Holdings]) -> ws_scope.Holdings:
    fields = ws_scope.Holdings.__dataclass_fields__
    return ws_scope.Holdings(**{f: sum(getattr(p, f) for p in parts) for f in fields})


def deletion_summary(db: Session, actor: Actor, account_id: Any) -> AccountDeletionSummary:
    """What would go: admins of that very account only (any other id: not found)."""
    require_account_admin(db, actor, account_id, noun="account")
    account = scope.own_account(db, actor, account_id)
    spaces = scope.workspaces(db, account)
    return AccountDeletionSummary(
        account_id=account.id,
        name=account.name,
        workspace_names=tuple(w.name for w in spaces),
        workspace_ids=tuple(w.id for w in spaces),
        held=scope.holdings(db, account),
        in_workspaces=_sum([ws_scope.holdings(db, w) for w in spaces]),
    )


def shred_keys(
    db: Session, actor: Actor, account_id: Any, confirm_name: Any, vault: Vault
) -> AccountDeletionSummary:
    """Step 1: check everything, destroy every data key of the account, commit."""
    summary = deletion_summary(db, actor, account_id)
    check_typed_name(confirm_name, summary.name, noun="account")
    scope.own_account(db, actor, summary.account_id, for_update=True)
    for tenant in (summary.account_id, *summary.workspace_ids):
        vault.destroy_tenant_keys(db, tenant_id=tenant)
    db.commit()
    return summary


def delete_account(
    db: Session, actor: Actor, account_id: Any, confirm_name: Any, *, vault: Vault
) -> AccountDeletionSummary:
    """Delete an account for good: every key first (committed), then rows and the event."""
    summary = shred_keys(db, actor, account_id, confirm_name, vault)
    remove_rows(db, actor, summary)
    return summary


def remove_rows(db: Session, actor: Actor, summary: AccountDeletionSummary) -> None:
    """Steps 2 and 3, in one transaction: the rows, then the event that it happened."""
    account = scope.own_account(db, actor, summary.account_id, for_update=True)
    spaces = scope.workspaces(db, account)
    gone = {w.id for w in spaces}
    stranded: dict[str, set[str]] = {}
    for workspace in spaces:
        stranded[workspace.id] = {
            user_id
            for user_id in ws_scope.session_users(db, workspace)
            if not any(c.workspace_id not in gone for c in workspaces_for(db, user_id))
        }
    scope.delete_rows(db, account, users_left_without=stranded)
    facts: dict[str, Any] = {"name": summary.name, **asdict(summary.held)}
    facts |= {f"workspace_{k}": v for k, v in asdict(summary.in_workspaces).items()}
    facts["workspaces"] = list(summary.workspace_names)
    facts["what"] = "data keys destroyed; " + ", ".join(summary.lines)
    # The account's chain keeps the event (audit rows carry no foreign key to accounts).
    audit.record(
        db,
        action=Action.ACCOUNT_DELETED,
        target_type="account",
        target_id=summary.account_id,
        account_id=summary.account_id,
        actor_id=actor.user_id,
        actor_label=actor.label,
        detail=facts,
    )
    for workspace_id in gone:  # every open screen of the account hears it (and leaves)
        alerts.changed_in(db, workspace_id)
    alerts.changed_in_account(db, summary.account_id)
    db.commit()
