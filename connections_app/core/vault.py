"""Envelope encryption: the only module that ever holds key material (F4, F7).

A master key (KEK) wraps one AES-256 data key (DEK) per tenant (workspace or
account). Each secret field is sealed with AES-256-GCM under its tenant's DEK,
with associated data binding (tenant id, connection id, field, key version): a
ciphertext copied to another row, field or tenant fails authentication instead
of decrypting. A check value sealed with the KEK lets start-up detect a wrong
master key before anything is written. The KEK sits behind `MasterKey` so that
a Vault transit or cloud KMS provider can replace the local key.
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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, LargeBinary, UniqueConstraint
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


class Vault:
    def __init__(self, master: MasterKey) -> None:
        self._master = master
        self._deks: dict[tuple[str, int], AESGCM] = {}
        self._lock = threading.Lock()

    @property
    def kek_id(self) -> str:
        return self._master.kek_id

    # --- start-up -----------------------------------------------------------------

    def verify(self, db: Session) -> bool:
        """Raise WrongMasterKey if the database was sealed with another KEK.

        Returns True when the database has no check value yet (a new installation);
        the caller then calls `install_check` and commits.
        """
        check = db.get(VaultCheck, 1)
        if check is None:
            any_key = db.exec(select(DataKey).where(DataKey.state != "destroyed").limit(1)).first()
            if any_key is not None:
                self._unwrap(any_key)
            return True
        self._master.unwrap(check.nonce, check.ciphertext, _CHECK_AAD)
        return False

    def install_check(self, db: Session) -> None:
        nonce, sealed = self._master.wrap(_CHECK_PLAINTEXT, _CHECK_AAD)
        db.add(VaultCheck(id=1, kek_id=self.kek_id, nonce=nonce, ciphertext=sealed))

    # --- data keys -------------------------------------------------------------------

    def create_data_key(self, db: Session, *, tenant_id: str, tenant_kind: str) -> DataKey:
        """Add the next DEK version for a tenant (part of the caller's transaction)."""
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
        dek = self._master.unwrap(
            row.wrap_nonce, row.wrapped_key, _dek_aad(row.tenant_id, row.version)
        )
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

    def rewrap_all(self, db: Session, new_master: MasterKey) -> int:
        """Re-wrap every live DEK under a new KEK; cheap, secrets are untouched.

        Rows already wrapped by the new KEK are skipped, so a crashed run resumes.
        """
        count = 0
        for row in db.exec(select(DataKey).where(DataKey.state != "destroyed")):
            if row.kek_id == new_master.kek_id:
                continue
            aad = _dek_aad(row.tenant_id, row.version)
            assert row.wrapped_key is not None
            dek = self._master.unwrap(row.wrap_nonce, row.wrapped_key, aad)
            row.wrap_nonce, row.wrapped_key = new_master.wrap(dek, aad)
            row.kek_id = new_master.kek_id
            db.add(row)
            count += 1
        check = db.get(VaultCheck, 1)
        if check is not None:
            db.delete(check)
            db.flush()
        nonce, sealed = new_master.wrap(_CHECK_PLAINTEXT, _CHECK_AAD)
        db.add(VaultCheck(id=1, kek_id=new_master.kek_id, nonce=nonce, ciphertext=sealed))
        self._master = new_master
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
    if db.get(VaultCheck, 1) is not None:
        return True
    return db.exec(select(DataKey.id).limit(1)).first() is not None


def load_master_key(settings: Settings, *, allow_create: bool) -> LocalMasterKey:
    if settings.master_key:
        return LocalMasterKey(parse_master_key(settings.master_key))
    path: Path = settings.master_key_file
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning("master key file %s is readable by others (mode %o): chmod 600", path, mode)
        return LocalMasterKey(parse_master_key(path.read_text()))
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


def open_vault(db: Session, settings: Settings) -> Vault:
    """Load the KEK and prove it fits this database; refuse rather than blank anything."""
    sealed = _database_is_sealed(db)
    vault = Vault(load_master_key(settings, allow_create=not sealed))
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
