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
    Vault,
    VaultCheck,
    WrongMasterKey,
    generate_master_key,
    open_vault,
    parse_master_key,
)
from tests.conftest import migrate
from tests.integration.dbdump import dump


def _seal(vault: Vault, db: Session, tenant: str, conn: str, field: str, text: str) -> Sealed:
    sealed = vault.encrypt(
        db,
        tenant_id=tenant,
        tenant_kind="workspace",
        connection_id=conn,
        field=field,
        plaintext=text,
    )
    db.commit()
    return sealed


def test_round_trip_and_binding(engine: Engine, vault: Vault) -> None:
    tenant, other_tenant = os.urandom(8).hex(), os.urandom(8).hex()
    with Session(engine) as db:
        sealed = _seal(vault, db, tenant, "c1", "live:api_key", "sk_test_binding_123456")
        _seal(vault, db, other_tenant, "c9", "live:api_key", "another-secret-value")
        assert (
            vault.decrypt(
                db, tenant_id=tenant, connection_id="c1", field="live:api_key", sealed=sealed
            )
            == "sk_test_binding_123456"
        )
        wrong_places = [
            dict(tenant_id=tenant, connection_id="c2", field="live:api_key"),
            dict(tenant_id=tenant, connection_id="c1", field="live:password"),
            dict(tenant_id=other_tenant, connection_id="c1", field="live:api_key"),
        ]
        for place in wrong_places:
            with pytest.raises(DecryptionFailed):
                vault.decrypt(db, sealed=sealed, **place)


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
                    vault.decrypt(
                        db, tenant_id=tenant, connection_id="c1", field="live:api_key", sealed=bad
                    )
        nonce = bytearray(sealed.nonce)
        nonce[0] ^= 1
        with pytest.raises(DecryptionFailed):
            vault.decrypt(
                db,
                tenant_id=tenant,
                connection_id="c1",
                field="live:api_key",
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
            restarted.decrypt(
                db, tenant_id=tenant, connection_id="c1", field="live:api_key", sealed=sealed
            )
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
            v.decrypt(db, tenant_id=tenant, connection_id="c1", field="live:api_key", sealed=sealed)


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
        vault.encrypt(
            db,
            tenant_id="t",
            tenant_kind="workspace",
            connection_id="c",
            field="live:api_key",
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
        sealed = [
            vault.encrypt(
                db,
                tenant_id=f"t{i}",
                tenant_kind="workspace",
                connection_id="c",
                field="live:api_key",
                plaintext=f"secret-number-{i}-xyz",
            )
            for i in range(3)
        ]
        db.commit()
        new_master = LocalMasterKey(parse_master_key(new_text))
        assert vault.rewrap_all(db, new_master) == 3
        db.commit()
        assert vault.rewrap_all(db, new_master) == 0  # a re-run after a crash has nothing left
    with Session(fresh_db) as db:
        rotated = open_vault(db, _settings(tmp_path, key=new_text))
        for i, s in enumerate(sealed):
            assert (
                rotated.decrypt(
                    db, tenant_id=f"t{i}", connection_id="c", field="live:api_key", sealed=s
                )
                == f"secret-number-{i}-xyz"
            )
        with pytest.raises(WrongMasterKey):
            open_vault(db, _settings(tmp_path, key=old_text))
