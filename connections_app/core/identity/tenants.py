"""Every tenant that owns a data key: the installation, each account, each workspace.

Kept apart from `identity.service` so the vault can list tenants without importing the
service (and, through it, the policy table and the connection models)."""

from __future__ import annotations

from sqlmodel import Session, select

from connections_app.core.identity.models import Account, Workspace
from connections_app.core.vault import INSTALLATION_TENANT


def all_tenants(db: Session) -> list[tuple[str, str]]:
    """(tenant id, tenant kind) for every key owner in the database."""
    tenants = [(INSTALLATION_TENANT, "installation")]
    tenants += [(a, "account") for a in db.exec(select(Account.id)).all()]
    tenants += [(w, "workspace") for w in db.exec(select(Workspace.id)).all()]
    return tenants
