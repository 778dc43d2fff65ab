"""Online key rotation (F7): master key and data keys, in batches, crash-safe.

Both rotations run while the app serves. Each batch is its own transaction, so a
rotation killed at any point leaves every row either as it was or as it should be,
and a re-run picks up exactly the rows not done yet:

- master key: every live data key not yet wrapped under the active KEK is re-wrapped
  (`Vault.rewrap_batch`); readers open either generation through the key ring.
- data keys: `start_data_key_rotation` adds a new version per tenant (new writes use
  it at once); every sealed field under a retired version is re-sealed under the new
  one (`sealed_rows`); when none is left, the old versions are destroyed. While any
  tenant has a retired version, the rotation is unfinished and a new command resumes
  it instead of starting another.

Nothing here prints: progress goes to a callback (the CLI draws the bar).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from connections_app.core.errors import Conflict
from connections_app.core.identity.tenants import all_tenants
from connections_app.core.tenancy import sealed_rows
from connections_app.core.vault import DecryptionFailed, Vault

Progress = Callable[[int, int], None]  # (done, total)
SessionFactory = Callable[[], Session]


def _quiet(_done: int, _total: int) -> None:
    return None


# --- master key ---------------------------------------------------------------------


def rewrap_remaining(
    session: SessionFactory,
    vault: Vault,
    *,
    batch_size: int = 200,
    on_progress: Progress = _quiet,
) -> int:
    """Re-wrap every live data key still under another KEK than the vault's active one,
    one transaction per batch; returns how many were re-wrapped by this run."""
    with session() as db:
        total = sum(
            n
            for kek_id, states in vault.kek_counts(db).items()
            if kek_id != vault.kek_id
            for state, n in states.items()
            if state != "destroyed"
        )
    done = 0
    on_progress(done, total)
    while True:
        with session() as db:
            count = vault.rewrap_batch(db, batch_size)
            db.commit()
        if count == 0:
            return done
        done += count
        on_progress(done, max(total, done))


# --- data keys ----------------------------------------------------------------------


@dataclass(frozen=True)
class DataKeyRotation:
    tenants: int
    resumed: bool
    resealed: int
    skipped: int  # changed meanwhile by a writer: already under the new version
    destroyed_keys: int


def start_data_key_rotation(
    session: SessionFactory, vault: Vault, tenants: Sequence[str]
) -> tuple[list[str], bool]:
    """Give each tenant a new active data key, in one transaction, unless a rotation of
    any of them is unfinished: then that one is resumed (returns it, True).

    One transaction for all tenants: a kill leaves either no new versions or all of
    them, so a re-run never rotates a tenant twice."""
    with session() as db:
        unfinished = vault.rotating_tenants(db)
        wanted = set(tenants)
        pending = sorted(t for t in unfinished if t in wanted)
        if pending:
            return pending, True
        active = vault.active_versions(db, list(tenants))
        kinds = dict(all_tenants(db))
        rotated = []
        try:
            for tenant in tenants:
                if tenant not in active:  # destroyed (shredded) or never keyed: nothing to do
                    continue
                kind = kinds.get(tenant, "workspace")
                vault.create_data_key(db, tenant_id=tenant, tenant_kind=kind)
                rotated.append(tenant)
            db.commit()
        except IntegrityError:
            # Another rotation gave one of these tenants its next version first (two
            # commands at once, on PostgreSQL): nothing of ours was kept.
            db.rollback()
            raise Conflict(
                "Another data-key rotation of these tenants started at the same moment; "
                "nothing was changed by this one. Run the command again: it resumes that "
                "rotation."
            ) from None
    return rotated, False


def reseal_remaining(
    session: SessionFactory,
    vault: Vault,
    tenants: Sequence[str],
    *,
    batch_size: int = 200,
    on_progress: Progress = _quiet,
) -> DataKeyRotation:
    """Re-seal every field of `tenants` still under a retired data key, one transaction
    per batch, then destroy the retired keys (one transaction per tenant)."""
    resealed = skipped = 0
    with session() as db:
        total = sealed_rows.count_under_retired(db, tenants)
        active = vault.active_versions(db, tenants)
    on_progress(0, total)
    while True:
        with session() as db:
            batch = sealed_rows.batch_under_retired(db, batch_size, tenants)
            if not batch:
                break
            for row in batch:
                version = active.get(row.place.tenant_id)
                if version is None:  # the tenant was shredded meanwhile
                    skipped += 1
                    continue
                try:
                    fresh = vault.reseal(db, place=row.place, sealed=row.sealed, version=version)
                except DecryptionFailed:
                    raise DecryptionFailed(
                        f"A sealed value in {row.table.name} (row {row.row_id}) does not open: "
                        "it was altered or its key destroyed. Nothing of this batch was "
                        "written; re-enter or delete that value, then run the command again."
                    ) from None
                if sealed_rows.replace_sealed(db, row, fresh):
                    resealed += 1
                else:
                    skipped += 1
            db.commit()
        on_progress(resealed + skipped, max(total, resealed + skipped))
    destroyed = 0
    for tenant in tenants:
        with session() as db:
            if sealed_rows.count_under_retired(db, [tenant]):
                continue  # a writer raced the last batch; the next run finishes it
            versions = vault.rotating_tenants(db).get(tenant, [])
            destroyed += vault.destroy_versions(db, tenant_id=tenant, versions=versions)
            db.commit()
    return DataKeyRotation(len(tenants), False, resealed, skipped, destroyed)


@dataclass(frozen=True)
class RotationStatus:
    active_kek_id: str
    previous_kek_ids: list[str]
    kek_counts: dict[str, dict[str, int]]
    rotating_tenants: int
    fields_under_retired: int


def status(db: Session, vault: Vault) -> RotationStatus:
    return RotationStatus(
        active_kek_id=vault.kek_id,
        previous_kek_ids=vault.previous_kek_ids,
        kek_counts=vault.kek_counts(db),
        rotating_tenants=len(vault.rotating_tenants(db)),
        fields_under_retired=sealed_rows.count_under_retired(db),
    )
