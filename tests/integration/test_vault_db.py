"""Envelope encryption against a real database: binding, tampering, keys at start-up (F4, F7)."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.settings import load_settings
from connections_app.core.vault import (
    DataKey,
    DecryptionFailed,
    LocalMasterKey,
    MasterKeyMissing,
    Sealed,
    SealedPlace,
    Vault,
    VaultCheck,
    VaultError,
    WrongMasterKey,
    generate_master_key,
    open_vault,
    parse_master_key,
)
from tests.conftest import migrate
from tests.integration.dbdump import dump


def _seal(vault: Vault, db: Session, tenant: str, conn: str, field: str, text: str) -> Sealed:
    vault.ensure_tenant_keys(db, [(tenant, "workspace")])  # the tenant's key, made with it
    sealed = vault.encrypt(db, place=SealedPlace(tenant, conn, field), plaintext=text)
    db.commit()
    return sealed


def test_round_trip_and_binding(engine: Engine, vault: Vault) -> None:
    tenant, other_tenant = os.urandom(8).hex(), os.urandom(8).hex()
    with Session(engine) as db:
        sealed = _seal(vault, db, tenant, "c1", "live:api_key", "sk_test_binding_123456")
        _seal(vault, db, other_tenant, "c9", "live:api_key", "another-secret-value")
        assert (
            vault.decrypt(db, place=SealedPlace(tenant, "c1", "live:api_key"), sealed=sealed)
            == "sk_test_binding_123456"
        )
        wrong_places = [
            SealedPlace(tenant, "c2", "live:api_key"),
            SealedPlace(tenant, "c1", "live:password"),
            SealedPlace(other_tenant, "c1", "live:api_key"),
        ]
        for place in wrong_places:
            with pytest.raises(DecryptionFailed):
                vault.decrypt(db, place=place, sealed=sealed)


def test_encrypt_many_seals_each_field_for_its_place_under_its_tenants_active_key(
    engine: Engine, vault: Vault
) -> None:
    tenant, other_tenant = os.urandom(8).hex(), os.urandom(8).hex()
    with Session(engine) as db:
        vault.ensure_tenant_keys(db, [(tenant, "workspace"), (other_tenant, "workspace")])
        vault.create_data_key(db, tenant_id=other_tenant, tenant_kind="workspace")  # version 2
        places = [
            SealedPlace(tenant, "c1", "live:access_token"),
            SealedPlace(tenant, "c1", "live:refresh_token"),
            SealedPlace(other_tenant, "c2", "live:access_token"),
        ]
        texts = ["access-token-one-123456", "refresh-token-one-123456", "access-token-two-123"]
        sealed = vault.encrypt_many(db, list(zip(places, texts, strict=True)))
        db.commit()
        assert [s.key_version for s in sealed] == [1, 1, 2], "each tenant's active key"
        assert len({s.nonce for s in sealed}) == 3
        for place, text, one in zip(places, texts, sealed, strict=True):
            assert vault.decrypt(db, place=place, sealed=one) == text
        with pytest.raises(DecryptionFailed):  # bound to its place like `encrypt`
            vault.decrypt(db, place=places[1], sealed=sealed[0])


def test_any_flipped_bit_fails(engine: Engine, vault: Vault) -> None:
    tenant = os.urandom(8).hex()
    with Session(engine) as db:
        sealed = _seal(vault, db, tenant, "c1", "live:api_key", "flip-me-if-you-can-123")
        for index in (0, len(sealed.ciphertext) // 2, len(sealed.ciphertext) - 1):
            for bit in (0, 7):
                data = bytearray(sealed.ciphertext)
                data[index] ^= 1 << bit
                bad = Sealed(sealed.key_version, sealed.nonce, bytes(data))
                with pytest.raises(DecryptionFailed):
                    vault.decrypt(db, place=SealedPlace(tenant, "c1", "live:api_key"), sealed=bad)
        nonce = bytearray(sealed.nonce)
        nonce[0] ^= 1
        with pytest.raises(DecryptionFailed):
            vault.decrypt(
                db,
                place=SealedPlace(tenant, "c1", "live:api_key"),
                sealed=Sealed(sealed.key_version, bytes(nonce), sealed.ciphertext),
            )


def test_a_fresh_vault_process_unwraps_from_the_database(
    engine: Engine, vault: Vault, master_key_bytes: bytes
) -> None:
    tenant = os.urandom(8).hex()
    with Session(engine) as db:
        sealed = _seal(vault, db, tenant, "c1", "live:api_key", "survives-a-restart-42")
    restarted = Vault(LocalMasterKey(master_key_bytes))  # empty DEK cache
    with Session(engine) as db:
        assert not restarted.verify(db)
        assert (
            restarted.decrypt(db, place=SealedPlace(tenant, "c1", "live:api_key"), sealed=sealed)
            == "survives-a-restart-42"
        )


def test_destroyed_tenant_keys_make_ciphertext_noise(
    engine: Engine, vault: Vault, master_key_bytes: bytes
) -> None:
    tenant = os.urandom(8).hex()
    with Session(engine) as db:
        sealed = _seal(vault, db, tenant, "c1", "live:api_key", "shred-this-secret-77")
        assert vault.destroy_tenant_keys(db, tenant_id=tenant) == 1
        db.commit()
        row = db.exec(select(DataKey).where(DataKey.tenant_id == tenant)).one()
        assert row.wrapped_key is None and row.state == "destroyed"
    for v in (vault, Vault(LocalMasterKey(master_key_bytes))):
        with Session(engine) as db, pytest.raises(DecryptionFailed):
            v.decrypt(db, place=SealedPlace(tenant, "c1", "live:api_key"), sealed=sealed)


def _settings(tmp_path: Path, *, key: str | None = None, key_file: Path | None = None):
    base = load_settings()
    return dataclasses.replace(
        base, master_key=key, master_key_file=key_file or tmp_path / "master.key"
    )


@pytest.fixture
def fresh_db(tmp_path: Path) -> Engine:
    from connections_app.core.db import build_engine

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrate(url)
    return build_engine(url)


def test_first_start_creates_a_0600_key_file_and_says_back_it_up(
    fresh_db: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(tmp_path)
    with Session(fresh_db) as db:
        vault = open_vault(db, settings)
    key_file = settings.master_key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "BACK IT UP" in capsys.readouterr().err
    with Session(fresh_db) as db:
        assert db.get(VaultCheck, 1) is not None
        assert not open_vault(db, settings).verify(db)
    assert vault.kek_id


def test_wrong_master_key_refuses_to_start_and_changes_nothing(
    fresh_db: Engine, tmp_path: Path
) -> None:
    right = generate_master_key()
    with Session(fresh_db) as db:
        vault = open_vault(db, _settings(tmp_path, key=right))
        vault.ensure_tenant_keys(db, [("t", "workspace")])
        vault.encrypt(
            db,
            place=SealedPlace.connection_secret("t", "c", "live", "api_key"),
            plaintext="keep-me-safe-please",
        )
        db.commit()
    before = dump(fresh_db)
    with Session(fresh_db) as db, pytest.raises(WrongMasterKey):
        open_vault(db, _settings(tmp_path, key=generate_master_key()))
    assert dump(fresh_db) == before


def test_wrong_key_is_detected_even_without_a_check_row(fresh_db: Engine, tmp_path: Path) -> None:
    with Session(fresh_db) as db:
        vault = open_vault(db, _settings(tmp_path, key=generate_master_key()))
        vault.create_data_key(db, tenant_id="t", tenant_kind="workspace")
        db.delete(db.get(VaultCheck, 1))
        db.commit()
    with Session(fresh_db) as db, pytest.raises(WrongMasterKey):
        open_vault(db, _settings(tmp_path, key=generate_master_key()))


def test_missing_key_for_a_sealed_database_creates_no_new_key(
    fresh_db: Engine, tmp_path: Path
) -> None:
    with Session(fresh_db) as db:
        open_vault(db, _settings(tmp_path, key=generate_master_key()))
    missing = tmp_path / "elsewhere" / "master.key"
    before = dump(fresh_db)
    with Session(fresh_db) as db, pytest.raises(MasterKeyMissing):
        open_vault(db, _settings(tmp_path, key_file=missing))
    assert not missing.exists()
    assert dump(fresh_db) == before


def test_master_key_rotation_rewraps_and_resumes(fresh_db: Engine, tmp_path: Path) -> None:
    old_text, new_text = generate_master_key(), generate_master_key()
    with Session(fresh_db) as db:
        vault = open_vault(db, _settings(tmp_path, key=old_text))
        vault.ensure_tenant_keys(db, [(f"t{i}", "workspace") for i in range(3)])
        sealed = [
            vault.encrypt(
                db,
                place=SealedPlace.connection_secret(f"t{i}", "c", "live", "api_key"),
                plaintext=f"secret-number-{i}-xyz",
            )
            for i in range(3)
        ]
        db.commit()
        new_master = LocalMasterKey(parse_master_key(new_text))
        assert vault.rewrap_all(db, new_master) == 4  # three workspaces and the installation
        db.commit()
        assert vault.rewrap_all(db, new_master) == 0  # a re-run after a crash has nothing left
    with Session(fresh_db) as db:
        rotated = open_vault(db, _settings(tmp_path, key=new_text))
        for i, s in enumerate(sealed):
            assert (
                rotated.decrypt(db, place=SealedPlace(f"t{i}", "c", "live:api_key"), sealed=s)
                == f"secret-number-{i}-xyz"
            )
        with pytest.raises(WrongMasterKey):
            open_vault(db, _settings(tmp_path, key=old_text))


def test_sealing_never_creates_a_data_key_on_the_side(engine: Engine, vault: Vault) -> None:
    """Keys are made with their tenant; a tenant without one is refused, and the refusal
    writes nothing (no hidden key row in the caller's transaction)."""
    tenant = os.urandom(8).hex()
    place = SealedPlace.connection_secret(tenant, "c1", "live", "api_key")
    with Session(engine) as db:
        with pytest.raises(VaultError):
            vault.encrypt(db, place=place, plaintext="no-key-no-seal-1234")
        db.commit()
        assert db.exec(select(DataKey).where(DataKey.tenant_id == tenant)).first() is None


def test_tenants_get_their_data_key_when_created_and_old_databases_once(
    fresh_db: Engine, tmp_path: Path
) -> None:
    from connections_app.core.identity import service as identity
    from connections_app.core.identity.models import Account, Workspace

    with Session(fresh_db) as db:
        vault = open_vault(db, _settings(tmp_path, key=generate_master_key()))
        # a new installation has the installation's key (OAuth client secrets)
        assert vault.encrypt(db, place=SealedPlace.oauth_client("github"), plaintext="s" * 20)
        account = identity.create_account(db, vault=vault, name="Acme", slug="acme", by="t")
        ws = identity.create_workspace(
            db, vault=vault, account_id=account.id, name="Ops", slug="ops", by="t"
        )
        keyed = set(db.exec(select(DataKey.tenant_id)).all())
        assert {account.id, ws.id, "installation"} <= keyed
        # a database from before: tenants without keys, one of them shredded
        old_account = Account(name="Old", slug="old")
        db.add(old_account)
        db.flush()
        old_ws = Workspace(account_id=old_account.id, name="Old ws", slug="old-ws")
        shredded = Workspace(account_id=old_account.id, name="Gone", slug="gone")
        db.add_all([old_ws, shredded])
        db.flush()
        vault.create_data_key(db, tenant_id=shredded.id, tenant_kind="workspace")
        vault.destroy_tenant_keys(db, tenant_id=shredded.id)
        db.commit()
        assert identity.ensure_data_keys(db, vault=vault) == 2
        db.commit()
        assert identity.ensure_data_keys(db, vault=vault) == 0  # once
        active = set(db.exec(select(DataKey.tenant_id).where(DataKey.state == "active")).all())
        assert {old_account.id, old_ws.id} <= active
        assert shredded.id not in active  # crypto-shredding is not undone
