"""What every benchmark needs first: a fresh account, a workspace, members, and a
migrated database with a vault. Shared so the scripts measure, not set up, differently."""

from __future__ import annotations

import math
import os
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from connections_app.core import migrations
from connections_app.core.db import build_engine
from connections_app.core.identity import service as identity
from connections_app.core.tenancy.actor import Actor, Role
from connections_app.core.vault import LocalMasterKey, Vault, set_vault

PASSWORD = "bench-password-1"
T = TypeVar("T")


@dataclass(frozen=True)
class BenchWorkspace:
    admin: Actor
    member_ids: dict[str, str]  # role → user id: "admin" and each extra role


def open_database(url: str, *, master_key: bytes | None = None) -> tuple[Engine, Vault]:
    """Migrate `url`, build its engine and install a fresh vault for this run (under
    `master_key` when other processes of the run must open it too)."""
    migrations.upgrade(url)
    engine = build_engine(url)
    vault = Vault(LocalMasterKey(master_key or os.urandom(32)))
    with Session(engine, expire_on_commit=False) as db:
        if vault.verify(db):
            vault.install_check(db)
            db.commit()
    set_vault(vault)
    return engine, vault


def workspace(
    db: Session, vault: Vault, *, name: str, slug: str, extra_roles: tuple[str, ...] = ()
) -> BenchWorkspace:
    """One account and workspace with an admin (the actor) and one member per extra role."""
    suffix = uuid.uuid4().hex[:6]
    account = identity.create_account(
        db, vault=vault, name="Bench", slug=f"bench-{suffix}", by="bench"
    )
    ws = identity.create_workspace(
        db, vault=vault, account_id=account.id, name=name, slug=slug, by="bench"
    )
    members: dict[str, str] = {}
    for role in ("admin", *extra_roles):
        user = identity.create_user(
            db, email=f"{role}-{suffix}@bench.test", name=role.title(), password=PASSWORD
        )
        identity.add_member(db, workspace_id=ws.id, user_id=user.id, role=role, by="bench")
        members[role] = user.id
    admin = Actor(
        user_id=members["admin"],
        label=f"admin-{suffix}@bench.test",
        account_id=account.id,
        workspace_id=ws.id,
        role=Role.ADMIN,
        is_account_admin=False,
    )
    return BenchWorkspace(admin, members)


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """(median, p95) of the samples, in their unit."""
    # Nearest rank: the smallest sample at or above 95 % of them (the largest of 10).
    rank = max(1, math.ceil(0.95 * len(samples)))
    return statistics.median(samples), sorted(samples)[rank - 1]


def timed_ms(runs: int, call: Callable[[], T]) -> tuple[list[float], T]:
    """Warm once, then time `runs` calls in ms; returns the samples and the last result."""
    result = call()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        result = call()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    return samples, result
