"""Drill: ciphertext tampering. Sealed values swapped between fields, connections,
workspaces and accounts (1,000 pairs), and single-bit flips in nonces, ciphertexts and
wrapped data keys: every one refused with DecryptionFailed, no plaintext for the wrong
owner, nothing written. Prints the counts recorded in docs/reliability.md."""

from __future__ import annotations

import random
from collections import Counter

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.catalog import get_catalog
from connections_app.core.connections import runtime
from connections_app.core.connections.models import Connection, ConnectionSecret, Purpose
from connections_app.core.tenancy.sealed_rows import SealedRow
from connections_app.core.vault import (
    DataKey,
    DecryptionFailed,
    LocalMasterKey,
    Sealed,
    Vault,
)
from tests.conftest import World
from tests.integration.dbdump import dump
from tests.integration.sealed_world import all_sealed, seal_everything

PAIRS = 1000
RUNTIME_SWAPS = 40


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _kind(a: SealedRow, b: SealedRow, account_of: dict[str, str]) -> str:
    """What the swap crosses, from the widest boundary down."""
    if a.table is not b.table:
        return "kinds"
    if account_of.get(a.place.tenant_id, a.place.tenant_id) != account_of.get(
        b.place.tenant_id, b.place.tenant_id
    ):
        return "accounts"
    if a.place.tenant_id != b.place.tenant_id:
        return "workspaces"
    if a.place.owner != b.place.owner:
        return "connections"
    return "fields"


def _refused(vault: Vault, db: Session, row: SealedRow, sealed: Sealed) -> bool:
    try:
        vault.decrypt(db, place=row.place, sealed=sealed)
    except DecryptionFailed as err:
        assert "integrity" in str(err) or "No data key" in str(err)
        return True
    return False


@pytest.fixture(scope="module")
def sealed(engine: Engine, vault: Vault, world: World) -> dict:
    with Session(engine, expire_on_commit=False) as db:
        return seal_everything(db, vault, world)


def test_swapped_sealed_values_never_open_for_another_owner(
    engine: Engine, vault: Vault, master_key_bytes: bytes, world: World, sealed: dict
) -> None:
    rng = random.Random(15)
    account_of = {
        world.ws1: world.account_id,
        world.ws2: world.account_id,
        world.other_ws: world.other_account_id,
    }
    cold = Vault(LocalMasterKey(master_key_bytes))  # a fresh process: unwraps from the rows
    before = dump(engine)
    tried: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    with Session(engine) as db:
        rows = all_sealed(db)
        assert len({r.place for r in rows}) == len(rows) == len(sealed)
        for n in range(PAIRS):
            a, b = rng.sample(rows, 2)
            kind = _kind(a, b, account_of)
            tried[kind] += 1
            if _refused(vault if n % 2 else cold, db, a, b.sealed):
                refused[kind] += 1
        db.rollback()
    assert dump(engine) == before
    print(
        f"\nswapped pairs refused: {sum(refused.values())} of {sum(tried.values())} "
        + ", ".join(f"{k} {refused[k]}/{tried[k]}" for k in sorted(tried))
    )
    assert refused == tried and sum(tried.values()) == PAIRS
    assert {"fields", "connections", "workspaces", "accounts"} <= set(tried)


def test_single_bit_flips_are_refused(
    engine: Engine, vault: Vault, master_key_bytes: bytes, sealed: dict
) -> None:
    rng = random.Random(16)
    before = dump(engine)
    tried: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    with Session(engine) as db:
        rows = all_sealed(db)
        for row in rng.sample(rows, 12):
            s = row.sealed
            for bit in range(len(s.nonce) * 8):  # every bit of the nonce
                tried["nonce"] += 1
                bad = Sealed(s.key_version, _flip(s.nonce, bit), s.ciphertext)
                refused["nonce"] += _refused(vault, db, row, bad)
            for bit in rng.sample(range(len(s.ciphertext) * 8), 40):  # body and tag
                tried["ciphertext"] += 1
                bad = Sealed(s.key_version, s.nonce, _flip(s.ciphertext, bit))
                refused["ciphertext"] += _refused(vault, db, row, bad)
        # wrapped data keys: flipped in the row (never committed), opened by a fresh process
        by_tenant = {}
        for row in rows:
            by_tenant.setdefault(row.place.tenant_id, row)
        for tenant, row in by_tenant.items():
            key = db.exec(
                select(DataKey).where(DataKey.tenant_id == tenant, DataKey.state == "active")
            ).one()
            original = (key.wrap_nonce, key.wrapped_key)
            assert key.wrapped_key is not None
            flips = [
                ("wrapped key", "wrapped_key", b)
                for b in rng.sample(range(len(key.wrapped_key) * 8), 12)
            ] + [("wrap nonce", "wrap_nonce", b) for b in rng.sample(range(96), 6)]
            for label, column, bit in flips:
                tried[label] += 1
                setattr(key, column, _flip(original[0 if column == "wrap_nonce" else 1], bit))
                db.add(key)
                db.flush()
                cold = Vault(LocalMasterKey(master_key_bytes))
                refused[label] += _refused(cold, db, row, row.sealed)
                key.wrap_nonce, key.wrapped_key = original
                db.add(key)
                db.flush()
        db.rollback()
    assert dump(engine) == before
    print(
        f"\nbit flips refused: {sum(refused.values())} of {sum(tried.values())} "
        + ", ".join(f"{k} {refused[k]}/{tried[k]}" for k in sorted(tried))
    )
    assert refused == tried


def test_swapped_rows_in_the_database_are_refused_at_run_time_and_nothing_is_sent(
    engine: Engine, vault: Vault, world: World, sealed: dict
) -> None:
    """The run-time path: a swapped row in `connection_secrets` fails its check, the
    request gets no credential, the answer names the problem, no row changes."""
    rng = random.Random(17)
    refused = tried = 0
    with Session(engine) as db:
        live = db.exec(
            select(ConnectionSecret).where(
                ConnectionSecret.purpose == Purpose.LIVE, ConnectionSecret.field == "secret_key"
            )
        ).all()
        pairs = [tuple(rng.sample(live, 2)) for _ in range(RUNTIME_SWAPS)]
        columns = [(r.id, r.key_version, r.nonce, r.ciphertext) for r in live]
    for a, b in pairs:
        with Session(engine) as db:  # the attacker's write: a's place gets b's ciphertext
            db.execute(
                update(ConnectionSecret)
                .where(ConnectionSecret.id == a.id)
                .values(key_version=b.key_version, nonce=b.nonce, ciphertext=b.ciphertext)
            )
            db.commit()
        before = dump(engine)
        with Session(engine) as db:
            conn = db.get(Connection, a.connection_id)
            assert conn is not None
            app = get_catalog().get(conn.app)
            method = app.auth_method(conn.kind)
            request = httpx.Request("POST", app.resolve_base_url(conn.config) + "/v1/customers")
            tried += 1
            try:
                runtime.authorize(
                    db, vault=vault, conn=conn, method=method, purpose=Purpose.LIVE, request=request
                )
            except runtime.CredentialUnavailable as err:
                refused += err.reason == "unreadable" and "tampered" in str(err)
            assert "Authorization" not in request.headers
            db.rollback()
        assert dump(engine) == before
        with Session(engine) as db:  # undo the attack for the next pair
            for row_id, version, nonce, ciphertext in columns:
                if row_id == a.id:
                    db.execute(
                        update(ConnectionSecret)
                        .where(ConnectionSecret.id == row_id)
                        .values(key_version=version, nonce=nonce, ciphertext=ciphertext)
                    )
            db.commit()
    print(f"\nswapped rows refused at run time: {refused} of {tried}")
    assert refused == tried == RUNTIME_SWAPS
