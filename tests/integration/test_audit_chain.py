"""The audit trail is a per-account hash chain that detects edits, gaps and truncation (F11)."""

from __future__ import annotations

import io
import itertools
import os

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core import audit
from connections_app.core.audit import AuditEvent, AuditHead


def _append(db: Session, account: str, n: int) -> None:
    for i in range(n):
        audit.record(
            db,
            account_id=account,
            action="updated",
            target_type="connection",
            target_id=f"c{i}",
            actor_id=None,
            actor_label="test",
            detail={"i": i},
        )
    db.commit()


def test_chain_verifies_and_links(engine: Engine) -> None:
    account = os.urandom(8).hex()
    with Session(engine) as db:
        _append(db, account, 5)
        result = audit.verify(db, account_id=account)
        assert result.ok and result.checked == 5
        events = db.exec(
            select(AuditEvent).where(AuditEvent.account_id == account).order_by(AuditEvent.seq)
        ).all()
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        assert events[0].prev_hash == audit.GENESIS
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (
            "UPDATE audit_events SET actor_label = 'mallory' WHERE account_id = :a AND seq = 3",
            "edited event",
        ),
        (
            "UPDATE audit_events SET action = 'created' WHERE account_id = :a AND seq = 2",
            "edited event",
        ),
        ("DELETE FROM audit_events WHERE account_id = :a AND seq = 3", "missing event"),
        ("DELETE FROM audit_events WHERE account_id = :a AND seq = 5", "events removed at the end"),
    ],
)
def test_verify_detects_tampering(engine: Engine, tamper: str, reason: str) -> None:
    account = os.urandom(8).hex()
    with Session(engine) as db:
        _append(db, account, 5)
        db.execute(text(tamper), {"a": account})
        db.commit()
        result = audit.verify(db, account_id=account)
    assert not result.ok
    assert result.reason == reason


def test_secret_looking_detail_keys_are_refused(engine: Engine) -> None:
    with Session(engine) as db, pytest.raises(ValueError):
        audit.record(
            db,
            account_id="a",
            action="created",
            target_type="connection",
            actor_id=None,
            actor_label="t",
            detail={"api_key": "nope"},
        )


def test_chains_are_per_account(engine: Engine) -> None:
    one, two = os.urandom(8).hex(), os.urandom(8).hex()
    with Session(engine) as db:
        _append(db, one, 2)
        _append(db, two, 3)
        assert db.get(AuditHead, one).seq == 2
        assert db.get(AuditHead, two).seq == 3
        assert audit.verify(db, account_id=one).ok and audit.verify(db, account_id=two).ok


def test_concurrent_appends_never_fork_the_chain(engine: Engine) -> None:
    """Threads appending to one account all land, in one unbroken chain."""
    from concurrent.futures import ThreadPoolExecutor

    account = os.urandom(8).hex()
    with Session(engine) as db:
        _append(db, account, 1)

    def work(_: int) -> None:
        with Session(engine) as db:
            _append(db, account, 5)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, range(4)))
    with Session(engine) as db:
        result = audit.verify(db, account_id=account)
    assert result.ok and result.checked == 21


def test_cli_audit_verify_reports_tampering(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connections_app import cli
    from tests.integration.cli_env import use_database

    account = os.urandom(8).hex()
    with Session(engine) as db:
        db.execute(
            text(
                "INSERT INTO accounts (id, name, slug, created_at) "
                "VALUES (:a, 'Acme', :s, CURRENT_TIMESTAMP)"
            ),
            {"a": account, "s": f"acme-{account[:6]}"},
        )
        db.commit()
        _append(db, account, 3)
    use_database(monkeypatch, db_url)
    out = io.StringIO()
    assert cli.main(["audit", "verify", "--account", f"acme-{account[:6]}"], out=out) == 0
    assert "ok, 3 events" in out.getvalue()
    with Session(engine) as db:
        db.execute(
            text("UPDATE audit_events SET target_id = 'x' WHERE account_id = :a AND seq = 2"),
            {"a": account},
        )
        db.commit()
    out = io.StringIO()
    assert cli.main(["audit", "verify", "--account", f"acme-{account[:6]}"], out=out) == 1
    assert "TAMPERED at event 2" in out.getvalue()
