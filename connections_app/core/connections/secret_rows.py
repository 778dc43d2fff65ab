"""Sealing a connection's secret fields into `connection_secrets` rows.

Shared by the connection service (create, rotate) and the OAuth token store, so
that there is one way to turn a plaintext field into a row bound to its place.
Opening rows stays with the callers allowed to decrypt (runtime, oauth).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlmodel import Session, select

from connections_app.core.catalog import get_catalog
from connections_app.core.clock import utcnow
from connections_app.core.connections import destination
from connections_app.core.connections.models import (
    Connection,
    ConnectionSecret,
    Purpose,
    Scope,
)
from connections_app.core.vault import Vault


def tenant_kind(conn: Connection) -> str:
    return "account" if conn.scope == Scope.ACCOUNT else "workspace"


def current_destination(conn: Connection) -> str:
    """The fingerprint a secret of this connection must carry to be opened now."""
    method = get_catalog().get(conn.app).auth_method(conn.kind)
    return destination.fingerprint(conn.app, method, conn.config)  # cached per destination


def rows(db: Session, conn: Connection, purpose: Purpose) -> dict[str, ConnectionSecret]:
    return {
        row.field: row
        for row in db.exec(
            select(ConnectionSecret).where(
                ConnectionSecret.connection_id == conn.id, ConnectionSecret.purpose == purpose
            )
        )
    }


def store(
    db: Session,
    vault: Vault,
    conn: Connection,
    secrets: Mapping[str, str],
    purpose: Purpose,
) -> None:
    """Seal each field, replacing the field's previous row (part of the caller's transaction).

    Each row remembers the destination it was entered for (`destination.fingerprint`).
    """
    existing = rows(db, conn, purpose)
    bound_to = current_destination(conn)
    for name, value in secrets.items():
        sealed = vault.encrypt(
            db,
            tenant_id=conn.tenant_id,
            tenant_kind=tenant_kind(conn),
            connection_id=conn.id,
            field=f"{purpose}:{name}",
            plaintext=value,
        )
        row = existing.get(name) or ConnectionSecret(
            connection_id=conn.id,
            tenant_id=conn.tenant_id,
            purpose=purpose,
            field=name,
            key_version=sealed.key_version,
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
        )
        row.key_version, row.nonce, row.ciphertext = (
            sealed.key_version,
            sealed.nonce,
            sealed.ciphertext,
        )
        row.destination = bound_to
        row.created_at = utcnow()
        db.add(row)
