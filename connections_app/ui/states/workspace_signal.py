"""One shared state per workspace, holding nothing but a change counter.

Every tab of a workspace links to `ws-<workspace id>` after the session guard
has established membership. When the core publishes an alert for a workspace,
the app bumps the counter; Reflex fans the change out to every linked tab (on
any worker, through Redis when configured). The tabs then re-read what *they*
may see through the core — no connection data ever travels in shared state,
so nothing of one person's personal connections reaches a colleague's tab.
"""

from __future__ import annotations

import reflex as rx


def signal_token(workspace_id: str) -> str:
    # Reflex link tokens may not contain underscores; our ids are hex.
    return "ws-" + workspace_id.replace("_", "-")


class WorkspaceSignal(rx.SharedState):
    version: int = 0


def account_signal_token(account_id: str) -> str:
    return "ac-" + account_id.replace("_", "-")


class AccountSignal(rx.SharedState):
    """The account's own change counter (account connections, grants, spend caps):
    linked only by account admins' tabs, after the session proved they are."""

    version: int = 0
