"""Sealing a connection's secret fields into `connection_secrets` rows.

Shared by the connection service (create, rotate) and the OAuth token store, so
that there is one way to turn a plaintext field into a row bound to its place.
Opening a row (`open_row`) is for the token store only; the apply path (runtime)
opens its own columns. Every row's place is `place_of`: one spelling of its AAD.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlmodel import Session

from connections_app.core.catalog import get_catalog
from connections_app.core.clock import utcnow
from connections_app.core.connections import destination
from connections_app.core.connections.models import (
    Connection,
    ConnectionSecret,
    Purpose,
)
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.vault import Sealed, SealedPlace, Vault


def current_destination(conn: Connection) -> str:
    """The fingerprint a secret of this connection must carry to be opened now."""
    method = get_catalog().get(conn.app).auth_method(conn.kind)
    return destination.fingerprint(conn.app, method, conn.config)  # cached per destination


def place_of(conn: Connection, purpose: str, name: str) -> SealedPlace:
    """Where a secret field of this connection is sealed (its associated data)."""
    return SealedPlace.connection_secret(conn.tenant_id, conn.id, str(purpose), name)


def open_row(db: Session, vault: Vault, conn: Connection, row: ConnectionSecret) -> str:
    """Open one row of this connection (callers allowed to decrypt: the token store)."""
    return vault.decrypt(
        db,
        place=place_of(conn, row.purpose, row.field),
        sealed=Sealed(row.key_version, row.nonce, row.ciphertext),
    )


def rows(db: Session, conn: Connection, purpose: Purpose) -> dict[str, ConnectionSecret]:
    return {row.field: row for row in connection_scope.secret_rows(db, conn, purpose)}


def store(
    db: Session,
    vault: Vault,
    conn: Connection,
    secrets: Mapping[str, str],
    purpose: Purpose,
    *,
    new: bool = False,
) -> None:
    """Seal each field, replacing the field's previous row (part of the caller's transaction).

    Each row remembers the destination it was entered for (`destination.fingerprint`).
    `new`: the connection was created in this transaction, so it has no rows to replace
    (and the query for them is skipped).
    """
    existing = {} if new else rows(db, conn, purpose)
    bound_to = current_destination(conn)
    for name, value in secrets.items():
        sealed = vault.encrypt(
            db,
            place=place_of(conn, purpose, name),
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
