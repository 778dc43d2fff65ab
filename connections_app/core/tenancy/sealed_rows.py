"""Every sealed field of the installation, by table: the queries of a data-key rotation.

A data-key rotation re-seals every row still sealed under a `retired` data key of its
tenant. No actor exists (the operator runs it on the server, for every tenant or the
ones named), so these are system queries; they live here, with the tenancy queries,
so that the one list of sealed tables is next to the rules about tenant-owned tables.
Only `core.key_rotation` calls them. Each place is built with the same `SealedPlace`
constructor the writer used, so a row opens only where it was sealed.

Every update is conditional on the row being as it was read (version and nonce): a
secret re-entered by a person meanwhile is never overwritten with the older value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, literal, update
from sqlmodel import Session, SQLModel, func, select

from connections_app.core.connections.models import ConnectionSecret
from connections_app.core.identity.models import Account, Workspace
from connections_app.core.identity.tenants import all_tenants
from connections_app.core.oauth.models import AccountOAuthApp, OAuthClientRegistration, OAuthFlow
from connections_app.core.vault import (
    INSTALLATION_TENANT,
    DataKey,
    Sealed,
    SealedPlace,
    VaultError,
)


@dataclass(frozen=True)
class SealedTable:
    """Where one kind of sealed field lives: its tenant column and its three columns."""

    name: str
    model: type[SQLModel]
    key: str  # primary key column
    tenant: str | None  # tenant column; None: the installation's
    version: str
    nonce: str
    ciphertext: str
    place: Callable[[Any], SealedPlace]

    def tenant_expr(self) -> Any:
        if self.tenant is None:
            return literal(INSTALLATION_TENANT)
        return getattr(self.model, self.tenant)

    def column(self, name: str) -> Any:
        return getattr(self.model, name)


SEALED_TABLES: tuple[SealedTable, ...] = (
    SealedTable(
        "connection secrets",
        ConnectionSecret,
        "id",
        "tenant_id",
        "key_version",
        "nonce",
        "ciphertext",
        lambda r: SealedPlace.connection_secret(r.tenant_id, r.connection_id, r.purpose, r.field),
    ),
    SealedTable(
        "OAuth connect flows",
        OAuthFlow,
        "id",
        "workspace_id",
        "verifier_key_version",
        "verifier_nonce",
        "verifier_ciphertext",
        lambda r: SealedPlace.oauth_flow(r.workspace_id, r.id),
    ),
    SealedTable(
        "OAuth client secrets",
        OAuthClientRegistration,
        "app",
        None,
        "secret_key_version",
        "secret_nonce",
        "secret_ciphertext",
        lambda r: SealedPlace.oauth_client(r.app),
    ),
    SealedTable(
        "account OAuth apps",
        AccountOAuthApp,
        "id",
        "account_id",
        "secret_key_version",
        "secret_nonce",
        "secret_ciphertext",
        lambda r: SealedPlace.account_oauth_app(r.account_id, r.id),
    ),
)


@dataclass(frozen=True)
class SealedRow:
    table: SealedTable
    row_id: Any
    place: SealedPlace
    sealed: Sealed

    @classmethod
    def of(cls, table: SealedTable, row: Any) -> SealedRow:
        """A loaded row of `table`, as the sealed value it holds."""
        sealed = Sealed(
            getattr(row, table.version), getattr(row, table.nonce), getattr(row, table.ciphertext)
        )
        return cls(table, getattr(row, table.key), table.place(row), sealed)


def _under_retired(table: SealedTable, tenants: Sequence[str] | None) -> list[Any]:
    """Join condition: the row's version is a retired (not destroyed) key of its tenant."""
    conditions = [
        DataKey.state == "retired",
        table.column(table.ciphertext).is_not(None),
    ]
    if tenants is not None:
        conditions.append(table.tenant_expr().in_(list(tenants)))
    return conditions


def _join(table: SealedTable) -> Any:
    return and_(
        DataKey.tenant_id == table.tenant_expr(),
        DataKey.version == table.column(table.version),
    )


def count_under_retired(db: Session, tenants: Sequence[str] | None = None) -> int:
    """Sealed fields still under a retired data key (of the named tenants, or any)."""
    total = 0
    for table in SEALED_TABLES:
        total += db.exec(
            select(func.count())
            .select_from(table.model)
            .join(DataKey, _join(table))
            .where(*_under_retired(table, tenants))
        ).one()
    return total


def batch_under_retired(
    db: Session, limit: int, tenants: Sequence[str] | None = None
) -> list[SealedRow]:
    """Up to `limit` sealed fields still under a retired data key, table by table."""
    found: list[SealedRow] = []
    for table in SEALED_TABLES:
        if len(found) >= limit:
            break
        rows = db.exec(
            select(table.model)
            .join(DataKey, _join(table))
            .where(*_under_retired(table, tenants))
            .order_by(table.column(table.key))
            .limit(limit - len(found))
        ).all()
        found.extend(SealedRow.of(table, row) for row in rows)
    return found


def replace_sealed(db: Session, row: SealedRow, sealed: Sealed) -> bool:
    """Store the re-sealed value if the row still holds what was read; False: it changed
    meanwhile (re-entered, deleted), and the newer state stands."""
    table = row.table
    result = db.execute(
        update(table.model)
        .where(
            table.column(table.key) == row.row_id,
            table.column(table.version) == row.sealed.key_version,
            table.column(table.nonce) == row.sealed.nonce,
        )
        .values(
            {
                table.version: sealed.key_version,
                table.nonce: sealed.nonce,
                table.ciphertext: sealed.ciphertext,
            }
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def tenants_named(
    db: Session, *, account_slug: str | None, workspace_slug: str | None
) -> list[str]:
    """The tenants a `rotate-data-key` names: a workspace (by slug, within the account
    when one is named); an account and each of its workspaces; or (neither) every
    tenant: the installation, each account, each workspace."""
    if workspace_slug is not None:
        query = select(Workspace.id).where(Workspace.slug == workspace_slug)
        if account_slug is not None:
            query = query.join(Account, Account.id == Workspace.account_id).where(  # type: ignore[arg-type]
                Account.slug == account_slug
            )
        found = db.exec(query).all()
        if not found:
            raise VaultError(f"No workspace with the slug {workspace_slug!r}.")
        if len(found) > 1:
            raise VaultError(
                f"Several accounts have a workspace {workspace_slug!r}: name the account too."
            )
        return list(found)
    if account_slug is not None:
        account = db.exec(select(Account.id).where(Account.slug == account_slug)).first()
        if account is None:
            raise VaultError(f"No account with the slug {account_slug!r}.")
        workspaces = db.exec(select(Workspace.id).where(Workspace.account_id == account)).all()
        return [account, *workspaces]
    return [tenant for tenant, _kind in all_tenants(db)]
