"""`audit.append` (the chain append without the ORM) writes the same events as
`audit.record`, into the same chain, and the two mix in one transaction and across
concurrent writers without forking it (F11, invariant 7)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core import audit
from connections_app.core.audit import AuditEvent, AuditHead

FIELDS = dict(
    action="used",
    target_type="connection",
    target_id="c1",
    connection_id="c1",
    workspace_id="w1",
    actor_id="u1",
    actor_label="Ada",
    outcome="failure",
    detail={"label": "Stripe", "app": "stripe"},
)


def test_append_and_record_mix_in_one_chain(engine: Engine) -> None:
    account = os.urandom(8).hex()
    with Session(engine, expire_on_commit=False) as db:
        audit.append(db, account_id=account, **FIELDS)  # creates the head
        audit.record(db, account_id=account, **FIELDS)
        audit.append(db, account_id=account, **FIELDS)
        db.commit()
        audit.record(db, account_id=account, **FIELDS)
        audit.append(db, account_id=account, **FIELDS)
        db.commit()
    with Session(engine) as db:
        assert audit.verify(db, account_id=account).ok
        head = db.get(AuditHead, account)
        assert head is not None and head.seq == 5
        events = db.exec(
            select(AuditEvent).where(AuditEvent.account_id == account).order_by(AuditEvent.seq)
        ).all()
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert head.hash == events[-1].hash
    for event in events:  # every column as `record` writes it
        assert (event.action, event.target_type, event.target_id) == ("used", "connection", "c1")
        assert (event.connection_id, event.workspace_id, event.actor_id) == ("c1", "w1", "u1")
        assert (event.actor_label, event.outcome) == ("Ada", "failure")
        assert event.detail == {"label": "Stripe", "app": "stripe"}


def test_append_is_rolled_back_with_its_transaction(engine: Engine) -> None:
    account = os.urandom(8).hex()
    with Session(engine, expire_on_commit=False) as db:
        audit.record(db, account_id=account, **FIELDS)
        db.commit()
        audit.append(db, account_id=account, **FIELDS)
        db.rollback()
        audit.append(db, account_id=account, **FIELDS)
        db.commit()
    with Session(engine) as db:
        result = audit.verify(db, account_id=account)
    assert result.ok and result.checked == 2


def test_concurrent_appends_and_records_never_fork_the_chain(engine: Engine) -> None:
    account = os.urandom(8).hex()

    def work(n: int) -> None:
        with Session(engine, expire_on_commit=False) as db:
            for i in range(5):
                write = audit.append if (n + i) % 2 else audit.record
                write(db, account_id=account, **FIELDS)
                db.commit()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, range(4)))
    with Session(engine) as db:
        result = audit.verify(db, account_id=account)
    assert result.ok and result.checked == 20


def test_append_refuses_secret_looking_detail(engine: Engine) -> None:
    account = os.urandom(8).hex()
    with Session(engine) as db, pytest.raises(ValueError, match="secret"):
        audit.append(db, account_id=account, **{**FIELDS, "detail": {"api_key": "x"}})
