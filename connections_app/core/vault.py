"""Envelope encryption: the only module that ever holds key material (F4, F7).

A master key (KEK) wraps one AES-256 data key (DEK) per tenant (workspace or
account). Each secret field is sealed with AES-256-GCM under its tenant's DEK,
with associated data binding (tenant id, connection id, field, key version): a
ciphertext copied to another row, field or tenant fails authentication instead
of decrypting. A check value sealed with the KEK lets start-up detect a wrong
master key before anything is written. The KEK sits behind `MasterKey` so that
a Vault transit or cloud KMS provider can replace the local key.

Rotation (F7, docs/operations.md): the vault holds a key ring, the active KEK and
during a master-key rotation the previous one, each known by its `kek_id`; a data
key opens under whichever KEK its row names. Every KEK of the ring has its own
check row, so start-up refuses a wrong key in either place. A data-key rotation
adds a tenant version; sealed rows name their version, so both open until every
row is re-sealed (`reseal`) and the old version is destroyed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, LargeBinary, UniqueConstraint, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, func, select

from connections_app.core import redaction
from connections_app.core.clock import utcnow
from connections_app.core.settings import Settings

log = logging.getLogger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12
_CHECK_PLAINTEXT = b"connections-master-key-check-v1"
_CHECK_AAD = b"connections|kek-check|v1"


class VaultError(Exception):
    """Key-handling failure; messages never contain key material or plaintext."""


class WrongMasterKey(VaultError):
    pass


class MasterKeyMissing(VaultError):
    pass


class DecryptionFailed(VaultError):
    pass


class DataKey(SQLModel, table=True):
    __tablename__ = "data_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "version", name="uq_data_key_version"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=32, index=True)
    tenant_kind: str = Field(max_length=16)
    version: int
    wrap_nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    wrapped_key: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    kek_id: str = Field(max_length=32)
    state: str = Field(default="active", max_length=16)  # active | retired | destroyed
    created_at: datetime = Field(default_factory=utcnow)
    destroyed_at: datetime | None = None


class VaultCheck(SQLModel, table=True):
    """One row per KEK of the ring (by `kek_id`): a value only that KEK opens."""

    __tablename__ = "vault_check"

    id: int = Field(default=1, primary_key=True)
    kek_id: str = Field(max_length=32)
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


@dataclass(frozen=True)
class Sealed:
    """A sealed secret as stored: no plaintext, safe to persist."""

    key_version: int
    nonce: bytes
    ciphertext: bytes

    def __repr__(self) -> str:
        return f"Sealed(key_version={self.key_version}, {len(self.ciphertext)} bytes)"


@dataclass(frozen=True)
class KeyStatus:
    kek_id: str
    tenants: int
    active_keys: int
    retired_keys: int
    destroyed_keys: int


class MasterKey(Protocol):
    """What the vault needs of a KEK; a KMS-backed provider implements the same two calls."""

    kek_id: str

    def wrap(self, data_key: bytes, aad: bytes) -> tuple[bytes, bytes]: ...

    def unwrap(self, nonce: bytes, wrapped: bytes, aad: bytes) -> bytes: ...


class LocalMasterKey:
    """A 256-bit KEK held in process memory (from the environment or a key file)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise VaultError("The master key must be 32 bytes (44 characters of base64).")
        self._aead = AESGCM(key)
        self.kek_id = hmac.new(key, b"connections-kek-id", hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"LocalMasterKey(kek_id={self.kek_id})"

    def wrap(self, data_key: bytes, aad: bytes) -> tuple[bytes, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        return nonce, self._aead.encrypt(nonce, data_key, aad)

    def unwrap(self, nonce: bytes, wrapped: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(nonce, wrapped, aad)
        except InvalidTag:
            raise WrongMasterKey("The master key does not match this database.") from None


def generate_master_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def parse_master_key(text: str) -> bytes:
    """Accept base64 (standard or URL-safe) of exactly 32 bytes."""
    cleaned = text.strip()
    try:
        raw = base64.urlsafe_b64decode(cleaned.replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError):
        raise VaultError("The master key is not valid base64.") from None
    if len(raw) != KEY_BYTES:
        raise VaultError("The master key must decode to exactly 32 bytes.")
    return raw


def _dek_aad(tenant_id: str, version: int) -> bytes:
    return json.dumps(["dek", tenant_id, version], separators=(",", ":")).encode()


@lru_cache(maxsize=16384)  # the run-time path opens the same places again and again
def secret_aad(tenant_id: str, connection_id: str, field: str, key_version: int) -> bytes:
    """Associated data binding a ciphertext to its place (invariant 5).

    The second element is named `connection_id` for history: it is the owner part of
    a `SealedPlace` (a connection id, `oauth-flow:…` or `oauth-client:…`)."""
    return json.dumps(
        ["secret-v1", tenant_id, connection_id, field, key_version], separators=(",", ":")
    ).encode()


INSTALLATION_TENANT = "installation"
TENANT_KINDS = ("workspace", "account", "installation")


@dataclass(frozen=True)
class SealedPlace:
    """Where a sealed secret lives: the tenant whose data key seals it, its owner and its
    field. It is the ciphertext's associated data, so a value copied to any other place
    fails to open. Build it only with the constructors below: each purpose has one
    spelling, and the bytes of `aad` must never change (existing rows must still open)."""

    tenant_id: str
    owner: str
    field: str

    @classmethod
    def connection_secret(
        cls, tenant_id: str, connection_id: str, purpose: str, name: str
    ) -> SealedPlace:
        """A connection's secret field of one purpose (`live`/`test`)."""
        return cls(tenant_id, connection_id, f"{purpose}:{name}")

    @classmethod
    def oauth_flow(cls, workspace_id: str, flow_id: str) -> SealedPlace:
        """The PKCE verifier of a pending connect flow, under its workspace's key."""
        return cls(workspace_id, f"oauth-flow:{flow_id}", "pkce_verifier")

    @classmethod
    def oauth_client(cls, app: str) -> SealedPlace:
        """The installation's client secret for an OAuth app."""
        return cls(INSTALLATION_TENANT, f"oauth-client:{app}", "client_secret")

    @classmethod
    def account_oauth_app(cls, account_id: str, app_id: str) -> SealedPlace:
        """An account's OAuth app registration's client secret, under the account's key."""
        return cls(account_id, f"account-oauth-app:{app_id}", "client_secret")

    def aad(self, key_version: int) -> bytes:
        return secret_aad(self.tenant_id, self.owner, self.field, key_version)


def masked_tail(secret: str) -> str:
    """F5: enough to recognise a key, never enough to rebuild it."""
    length = len(secret)
    if length < 12:
        return ""
    if length < 20:
        return secret[-2:]
    return secret[-4:]


KeyLoader = Callable[[], "list[MasterKey]"]


class Vault:
    """The key ring and the data keys it unwraps.

    `master` is the active KEK (new data keys are wrapped under it), `previous` the
    KEKs still allowed to open data keys (a master-key rotation in progress).
    `reload`, when given, re-reads the ring from its configured place: a running
    process calls it when it meets a data key wrapped under a KEK it does not hold,
    and before it wraps a new data key, which is how it learns of a rotation."""

    def __init__(
        self,
        master: MasterKey,
        previous: Sequence[MasterKey] = (),
        *,
        reload: KeyLoader | None = None,
    ) -> None:
        self._master = master
        self._ring: dict[str, MasterKey] = {k.kek_id: k for k in (master, *previous)}
        self._reload = reload
        self._deks: dict[tuple[str, int], AESGCM] = {}
        self._lock = threading.Lock()

    @property
    def kek_id(self) -> str:
        return self._master.kek_id

    @property
    def previous_kek_ids(self) -> list[str]:
        return [k for k in self._ring if k != self._master.kek_id]

    def use_ring(self, master: MasterKey, previous: Sequence[MasterKey] = ()) -> None:
        """Replace the ring (a rotation that has just installed its new key)."""
        with self._lock:
            self._master = master
            self._ring = {k.kek_id: k for k in (master, *previous)}

    def promote(self, new: MasterKey) -> None:
        """Make `new` the active KEK; the ring's other keys stay as previous ones."""
        with self._lock:
            self._ring[new.kek_id] = new
            self._master = new

    def refresh_ring(self) -> bool:
        """Re-read the ring from its place; False when there is nothing to re-read or it
        cannot be read now (the ring in memory stays as it was)."""
        if self._reload is None:
            return False
        try:
            keys = self._reload()
        except (VaultError, OSError) as err:
            log.warning("could not re-read the master key ring: %s", type(err).__name__)
            return False
        self.use_ring(keys[0], keys[1:])
        return True

    def _kek(self, kek_id: str) -> MasterKey:
        key = self._ring.get(kek_id)
        if key is None and self.refresh_ring():
            key = self._ring.get(kek_id)
        if key is None:
            raise WrongMasterKey(
                f"A data key is wrapped under master key id {kek_id}, which is not in the "
                "key ring: the master key does not match this database, or a master-key "
                "rotation is unfinished (give the previous key too, see docs/operations.md)."
            )
        return key

    # --- start-up -----------------------------------------------------------------

    def verify(self, db: Session) -> bool:
        """Raise WrongMasterKey unless the key ring fits this database.

        The active KEK must open its check row, a previous KEK its own, and every live
        data key must be wrapped under a KEK of the ring. A previous KEK the database
        does not know (retired meanwhile) is dropped from the ring with a warning: it
        opens nothing here, and any data key that needed it fails the last check.
        The ring is re-read first, so a running process's readiness check follows a
        rotation. Returns True when the database has no check value yet (a new
        installation); the caller then calls `install_check` and commits.
        """
        self.refresh_ring()
        checks = {c.kek_id: c for c in db.exec(select(VaultCheck)).all()}
        if not checks:
            any_key = db.exec(select(DataKey).where(DataKey.state != "destroyed").limit(1)).first()
            if any_key is not None:
                self._unwrap(any_key)
            return True
        for kek_id, key in list(self._ring.items()):
            active = kek_id == self._master.kek_id
            check = checks.get(kek_id)
            if check is None and not active:
                log.warning("previous master key %s is not known to this database: ignored", kek_id)
                with self._lock:
                    self._ring.pop(kek_id, None)
                continue
            if check is None:
                raise WrongMasterKey("The master key does not match this database.")
            try:
                key.unwrap(check.nonce, check.ciphertext, _CHECK_AAD)
            except VaultError:
                which = "master key" if active else "previous master key"
                raise WrongMasterKey(f"The {which} does not match this database.") from None
        wrapped_under = set(
            db.exec(select(DataKey.kek_id).where(DataKey.state != "destroyed").distinct()).all()
        )
        for kek_id in sorted(wrapped_under - set(self._ring)):
            raise WrongMasterKey(
                f"Data keys are still wrapped under master key id {kek_id}, which is not in "
                "the key ring: the master key does not match this database, or a master-key "
                "rotation is unfinished (give the previous key in "
                "CONNECTIONS_PREVIOUS_MASTER_KEY_FILE and run "
                "`connections-admin keys rotate-master` to finish it)."
            )
        return False

    def install_check(self, db: Session) -> None:
        self.register_master(db, self._master)

    def register_master(self, db: Session, key: MasterKey) -> None:
        """Give `key` its check row (part of the caller's transaction); a key that has
        one already must open it (a re-run of an interrupted rotation)."""
        checks = db.exec(select(VaultCheck)).all()
        for check in checks:
            if check.kek_id == key.kek_id:
                key.unwrap(check.nonce, check.ciphertext, _CHECK_AAD)
                return
        nonce, sealed = key.wrap(_CHECK_PLAINTEXT, _CHECK_AAD)
        next_id = max((c.id for c in checks), default=0) + 1
        db.add(VaultCheck(id=next_id, kek_id=key.kek_id, nonce=nonce, ciphertext=sealed))
        db.flush()

    # --- data keys -------------------------------------------------------------------

    def create_data_key(self, db: Session, *, tenant_id: str, tenant_kind: str) -> DataKey:
        """Add the next DEK version for a tenant (part of the caller's transaction); the
        tenant's active key becomes `retired` (still opens, until re-sealing is done).

        The ring is re-read first, so a key made during a master-key rotation is
        wrapped under the new KEK, never under one about to be retired."""
        self.refresh_ring()
        latest = db.exec(
            select(func.max(DataKey.version)).where(DataKey.tenant_id == tenant_id)
        ).one()
        version = (latest or 0) + 1
        for old in db.exec(
            select(DataKey).where(DataKey.tenant_id == tenant_id, DataKey.state == "active")
        ):
            old.state = "retired"
            db.add(old)
        dek = os.urandom(KEY_BYTES)
        nonce, wrapped = self._master.wrap(dek, _dek_aad(tenant_id, version))
        row = DataKey(
            tenant_id=tenant_id,
            tenant_kind=tenant_kind,
            version=version,
            wrap_nonce=nonce,
            wrapped_key=wrapped,
            kek_id=self.kek_id,
        )
        db.add(row)
        db.flush()
        with self._lock:
            self._deks[(tenant_id, version)] = AESGCM(dek)
        return row

    def _active_key(self, db: Session, tenant_id: str) -> DataKey:
        """The tenant's current key. Keys are made with their tenant (account, workspace,
        installation) and by `ensure_tenant_keys`; sealing never creates one on the side."""
        row = db.exec(
            select(DataKey).where(DataKey.tenant_id == tenant_id, DataKey.state == "active")
        ).first()
        if row is None:
            raise VaultError("This workspace has no active data key; nothing was stored.")
        return row

    def ensure_tenant_keys(self, db: Session, tenants: list[tuple[str, str]]) -> int:
        """Give every (tenant id, kind) without an active data key one; returns how many.

        For databases from before keys were made with their tenant: run once at start-up
        and by `connections-admin db upgrade` (caller commits). A tenant whose keys were
        destroyed (crypto-shredded) gets none back: its old secrets stay unreadable, and
        new ones are refused until an operator decides.
        """
        have = set(db.exec(select(DataKey.tenant_id).distinct()).all())
        created = 0
        for tenant_id, kind in tenants:
            if tenant_id not in have:
                self.create_data_key(db, tenant_id=tenant_id, tenant_kind=kind)
                created += 1
        return created

    def _unwrap(self, row: DataKey) -> AESGCM:
        cache_key = (row.tenant_id, row.version)
        with self._lock:
            cached = self._deks.get(cache_key)
        if cached is not None:
            return cached
        if row.state == "destroyed" or row.wrapped_key is None:
            raise DecryptionFailed("The data key of this workspace has been destroyed.")
        kek = self._kek(row.kek_id)
        try:
            dek = kek.unwrap(row.wrap_nonce, row.wrapped_key, _dek_aad(row.tenant_id, row.version))
        except WrongMasterKey:
            # the KEK is the one the row names (its id is derived from the key), so
            # the wrapped key itself was altered
            raise DecryptionFailed("A data key failed its integrity check.") from None
        aead = AESGCM(dek)
        with self._lock:
            self._deks[cache_key] = aead
        return aead

    def _key_for(self, db: Session, tenant_id: str, version: int) -> AESGCM:
        with self._lock:
            cached = self._deks.get((tenant_id, version))
        if cached is not None:
            return cached
        row = db.exec(
            select(DataKey).where(DataKey.tenant_id == tenant_id, DataKey.version == version)
        ).first()
        if row is None:
            raise DecryptionFailed("No data key for this secret.")
        return self._unwrap(row)

    # --- secrets ---------------------------------------------------------------------

    def encrypt(self, db: Session, *, place: SealedPlace, plaintext: str) -> Sealed:
        """Seal under the tenant's active data key, bound to `place` (reads, never writes)."""
        redaction.remember(plaintext)
        row = self._active_key(db, place.tenant_id)
        aead = self._unwrap(row)
        nonce = os.urandom(NONCE_BYTES)
        aad = place.aad(row.version)
        return Sealed(row.version, nonce, aead.encrypt(nonce, plaintext.encode(), aad))

    def encrypt_many(self, db: Session, fields: list[tuple[SealedPlace, str]]) -> list[Sealed]:
        """`encrypt` for several fields at once, looking each tenant's active key up once
        (the refresher seals two tokens per refresh). In the caller's transaction, as
        `encrypt`: a key rotated by another process is seen by the next call."""
        keys: dict[str, tuple[DataKey, AESGCM]] = {}
        sealed: list[Sealed] = []
        for place, plaintext in fields:
            redaction.remember(plaintext)
            if place.tenant_id not in keys:
                row = self._active_key(db, place.tenant_id)
                keys[place.tenant_id] = (row, self._unwrap(row))
            row, aead = keys[place.tenant_id]
            nonce = os.urandom(NONCE_BYTES)
            aad = place.aad(row.version)
            sealed.append(Sealed(row.version, nonce, aead.encrypt(nonce, plaintext.encode(), aad)))
        return sealed

    def decrypt(self, db: Session, *, place: SealedPlace, sealed: Sealed) -> str:
        """Only the run-time apply path may call this (a test enforces it)."""
        aead = self._key_for(db, place.tenant_id, sealed.key_version)
        aad = place.aad(sealed.key_version)
        try:
            plaintext = aead.decrypt(sealed.nonce, sealed.ciphertext, aad).decode()
        except InvalidTag:
            raise DecryptionFailed("A stored secret failed its integrity check.") from None
        redaction.remember(plaintext)
        return plaintext

    # --- rotation and shredding (F7) -------------------------------------------------

    def rewrap_batch(self, db: Session, limit: int) -> int:
        """Re-wrap up to `limit` live data keys not yet under the active KEK; the caller
        commits. Secrets are untouched (the DEK stays the same), so readers holding a
        DEK in memory never notice. Returns how many rows it took on; 0 = done.

        Each update is conditional on the row being as read, so a concurrent change
        (a key destroyed by a workspace deletion) is left alone, never overwritten."""
        new = self._master
        rows = db.exec(
            select(DataKey)
            .where(
                DataKey.state != "destroyed",
                DataKey.kek_id != new.kek_id,
                DataKey.wrapped_key.is_not(None),  # type: ignore[union-attr]
            )
            .order_by(DataKey.id)
            .limit(limit)
        ).all()
        for row in rows:
            assert row.wrapped_key is not None
            aad = _dek_aad(row.tenant_id, row.version)
            try:
                dek = self._kek(row.kek_id).unwrap(row.wrap_nonce, row.wrapped_key, aad)
            except WrongMasterKey:
                raise DecryptionFailed(
                    f"Data key {row.id} failed its integrity check; nothing was re-wrapped."
                ) from None
            nonce, wrapped = new.wrap(dek, aad)
            db.execute(
                update(DataKey)
                .where(
                    DataKey.id == row.id,  # type: ignore[arg-type]
                    DataKey.kek_id == row.kek_id,  # type: ignore[arg-type]
                    DataKey.wrap_nonce == row.wrap_nonce,  # type: ignore[arg-type]
                    DataKey.state != "destroyed",  # type: ignore[arg-type]
                )
                .values(wrap_nonce=nonce, wrapped_key=wrapped, kek_id=new.kek_id)
            )
        db.expire_all()
        return len(rows)

    def kek_counts(self, db: Session) -> dict[str, dict[str, int]]:
        """kek_id → state → number of data keys (destroyed keys have no wrap left)."""
        counts: dict[str, dict[str, int]] = {}
        for kek_id, state, n in db.exec(
            select(DataKey.kek_id, DataKey.state, func.count()).group_by(
                DataKey.kek_id, DataKey.state
            )
        ).all():
            counts.setdefault(kek_id, {})[state] = n
        return counts

    def live_keys_under(self, db: Session, kek_id: str) -> int:
        return db.exec(
            select(func.count())
            .select_from(DataKey)
            .where(DataKey.kek_id == kek_id, DataKey.state != "destroyed")
        ).one()

    def forget_master(self, db: Session, kek_id: str) -> None:
        """Drop a KEK's check row once nothing is wrapped under it (caller commits)."""
        if kek_id == self._master.kek_id:
            raise VaultError("The active master key cannot be retired.")
        left = self.live_keys_under(db, kek_id)
        if left:
            raise VaultError(
                f"{left} data keys are still wrapped under master key id {kek_id}: "
                "run `connections-admin keys rotate-master` to finish the rotation first."
            )
        for check in db.exec(select(VaultCheck).where(VaultCheck.kek_id == kek_id)).all():
            db.delete(check)
        with self._lock:
            self._ring.pop(kek_id, None)

    def rewrap_all(self, db: Session, new_master: MasterKey) -> int:
        """Re-wrap every live DEK under `new_master` in the caller's transaction and make
        it the only KEK (small databases and tests; the CLI rotates in batches).

        Rows already wrapped by the new KEK are skipped, so a crashed run resumes.
        """
        old = [k for k in self._ring.values() if k.kek_id != new_master.kek_id]
        self.use_ring(new_master, old)
        self.register_master(db, new_master)
        count = 0
        while done := self.rewrap_batch(db, 500):
            count += done
        for key in old:
            self.forget_master(db, key.kek_id)
        db.flush()
        return count

    # --- data-key rotation ------------------------------------------------------------

    def active_versions(
        self, db: Session, tenant_ids: Sequence[str] | None = None
    ) -> dict[str, int]:
        """tenant → version of its active data key (every tenant, or the ones named)."""
        query = select(DataKey.tenant_id, DataKey.version).where(DataKey.state == "active")
        if tenant_ids is not None:
            query = query.where(DataKey.tenant_id.in_(list(tenant_ids)))  # type: ignore[attr-defined]
        return dict(db.exec(query).all())

    def rotating_tenants(self, db: Session) -> dict[str, list[int]]:
        """tenant → its retired, not yet destroyed versions: a data-key rotation that has
        not finished (new writes already use the active version)."""
        found: dict[str, list[int]] = {}
        for tenant_id, version in db.exec(
            select(DataKey.tenant_id, DataKey.version).where(DataKey.state == "retired")
        ).all():
            found.setdefault(tenant_id, []).append(version)
        return found

    def reseal(self, db: Session, *, place: SealedPlace, sealed: Sealed, version: int) -> Sealed:
        """Open a sealed value and seal it again under `version` of its tenant's key, inside
        the vault: the plaintext never leaves this call (data-key rotation)."""
        old = self._key_for(db, place.tenant_id, sealed.key_version)
        try:
            plaintext = old.decrypt(sealed.nonce, sealed.ciphertext, place.aad(sealed.key_version))
        except InvalidTag:
            raise DecryptionFailed("A stored secret failed its integrity check.") from None
        new = self._key_for(db, place.tenant_id, version)
        nonce = os.urandom(NONCE_BYTES)
        return Sealed(version, nonce, new.encrypt(nonce, plaintext, place.aad(version)))

    def destroy_versions(self, db: Session, *, tenant_id: str, versions: Sequence[int]) -> int:
        """Destroy retired data keys of a tenant once nothing is sealed under them."""
        count = 0
        for row in db.exec(
            select(DataKey).where(
                DataKey.tenant_id == tenant_id,
                DataKey.version.in_(list(versions)),  # type: ignore[attr-defined]
                DataKey.state == "retired",
            )
        ):
            row.wrapped_key = None
            row.state = "destroyed"
            row.destroyed_at = utcnow()
            db.add(row)
            count += 1
        with self._lock:
            for version in versions:
                self._deks.pop((tenant_id, version), None)
        return count

    def destroy_tenant_keys(self, db: Session, *, tenant_id: str) -> int:
        """Crypto-shredding: without its DEKs a tenant's ciphertexts are noise."""
        count = 0
        for row in db.exec(select(DataKey).where(DataKey.tenant_id == tenant_id)):
            row.wrapped_key = None
            row.state = "destroyed"
            row.destroyed_at = utcnow()
            db.add(row)
            count += 1
        with self._lock:
            for key in [k for k in self._deks if k[0] == tenant_id]:
                del self._deks[key]
        return count

    def status(self, db: Session) -> KeyStatus:
        rows = db.exec(select(DataKey.state, func.count()).group_by(DataKey.state)).all()
        by_state = dict(rows)
        tenants = db.exec(select(func.count(func.distinct(DataKey.tenant_id)))).one()
        return KeyStatus(
            kek_id=self.kek_id,
            tenants=tenants or 0,
            active_keys=by_state.get("active", 0),
            retired_keys=by_state.get("retired", 0),
            destroyed_keys=by_state.get("destroyed", 0),
        )


# --- loading the master key ---------------------------------------------------------

_BACKUP_WARNING = """
============================================================================
 A NEW MASTER KEY WAS CREATED: {path}
 It encrypts every stored credential. BACK IT UP NOW, somewhere other than
 this machine. Without it, the stored connections cannot be decrypted.
============================================================================
"""


def _database_is_sealed(db: Session) -> bool:
    if db.exec(select(VaultCheck.id).limit(1)).first() is not None:
        return True
    return db.exec(select(DataKey.id).limit(1)).first() is not None


def read_key_file(path: Path) -> LocalMasterKey:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("master key file %s is readable by others (mode %o): chmod 600", path, mode)
    return LocalMasterKey(parse_master_key(path.read_text()))


def load_master_key(settings: Settings, *, allow_create: bool) -> LocalMasterKey:
    if settings.master_key:
        return LocalMasterKey(parse_master_key(settings.master_key))
    path: Path = settings.master_key_file
    if path.exists():
        return read_key_file(path)
    if not allow_create:
        raise MasterKeyMissing(
            f"No master key: set CONNECTIONS_MASTER_KEY or restore the key file {path}. "
            "This database already holds encrypted secrets, so no new key is created."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    key_text = generate_master_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key_text + "\n")
    print(_BACKUP_WARNING.format(path=path), file=sys.stderr, flush=True)
    log.warning("created a new master key file at %s: back it up", path)
    return LocalMasterKey(parse_master_key(key_text))


def load_previous_master_key(settings: Settings) -> LocalMasterKey | None:
    """The ring's second KEK: `CONNECTIONS_PREVIOUS_MASTER_KEY`, else the previous key
    file (`CONNECTIONS_PREVIOUS_MASTER_KEY_FILE`, default `<master key file>.previous`)
    when it exists. Present only while a master-key rotation is unfinished."""
    if settings.previous_master_key:
        return LocalMasterKey(parse_master_key(settings.previous_master_key))
    path = settings.previous_master_key_file
    if path.exists():
        return read_key_file(path)
    return None


def load_key_ring(settings: Settings, *, allow_create: bool = False) -> list[MasterKey]:
    """[active KEK, previous KEK if any]; the same key twice counts once."""
    active = load_master_key(settings, allow_create=allow_create)
    previous = load_previous_master_key(settings)
    if previous is None or previous.kek_id == active.kek_id:
        return [active]
    return [active, previous]


def write_key_file(path: Path, key_text: str) -> None:
    """Write a key file atomically with mode 0600: a crash leaves the old file or the
    new one, never a half-written key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key_text.strip() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def open_vault(db: Session, settings: Settings) -> Vault:
    """Load the key ring and prove it fits this database; refuse rather than blank anything."""
    sealed = _database_is_sealed(db)
    ring = load_key_ring(settings, allow_create=not sealed)
    vault = Vault(ring[0], ring[1:], reload=lambda: load_key_ring(settings))
    if vault.verify(db):
        vault.install_check(db)
        vault.ensure_tenant_keys(db, [(INSTALLATION_TENANT, "installation")])
        db.commit()
    return vault


_current: Vault | None = None
_current_lock = threading.Lock()


def get_vault() -> Vault:
    """The process's vault, opened on first use against the configured database."""
    global _current
    with _current_lock:
        if _current is None:
            from connections_app.core.db import session_scope
            from connections_app.core.identity.tenants import all_tenants
            from connections_app.core.settings import get_settings

            with session_scope() as db:
                vault = open_vault(db, get_settings())
                try:
                    if vault.ensure_tenant_keys(
                        db, all_tenants(db)
                    ):  # once, for databases from before
                        db.commit()
                except IntegrityError:  # another process made them at the same moment
                    db.rollback()
                _current = vault
        return _current


def set_vault(vault: Vault | None) -> None:
    """Install (or forget, with None) the process's vault: start-up and tests."""
    global _current
    with _current_lock:
        _current = vault
