"""Audit entries name their targets in words and say from → to (issue 11, item 5);
failed sign-ins are filterable; a reversed period is explained."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from connections_app.core import audit_log
from connections_app.core.audit import Action
from connections_app.core.connections import service as connections
from connections_app.core.errors import Invalid
from connections_app.core.identity import service as identity
from connections_app.core.tenancy.actor import Actor
from connections_app.core.workflows import service as workflows
from tests.conftest import World
from tests.integration.helpers import make_stripe, workflow_with_node

_names = iter(f"words-{n}" for n in range(10_000))


@pytest.fixture
def admin(world: World) -> Actor:
    return world.actors["admin1"]


def _log(db: Session, admin: Actor, action: str) -> list[audit_log.AuditEntry]:
    return audit_log.workspace_log(db, actor=admin, action=action, page_size=100).items


def _no_hex(entries: list[audit_log.AuditEntry], *ids: str) -> None:
    for entry in entries:
        for raw in ids:
            assert raw not in entry.target and raw not in entry.summary, entry


def test_workflow_and_node_events_name_the_workflow_and_say_from_to(
    db: Session, admin: Actor
) -> None:
    wes = make_stripe(db, admin, label=f"Stripe (Wes) {next(_names)}")
    bea = make_stripe(db, admin, label=f"Stripe (Bea) {next(_names)}")
    old_name, new_name = next(_names), next(_names)
    wf, node = workflow_with_node(db, admin, old_name, wes.id, {"email": "a@e.test"})
    workflows.rename_workflow(db, actor=admin, workflow_id=wf.id, name=new_name)
    moved = workflows.replace_connection(
        db, actor=admin, from_connection_id=wes.id, to_connection_id=bea.id
    )
    assert moved == 1

    changed = [e for e in _log(db, admin, "workflow_updated") if e.target in (old_name, new_name)]
    summaries = [e.summary for e in changed]
    assert f"renamed {old_name} → {new_name}" in summaries
    assert any(
        s.startswith(f"none → {wes.label}") and "“Create a customer”" in s for s in summaries
    )
    assert any("added node “Create a customer”" in s for s in summaries)
    switched = next(e for e in _log(db, admin, "connection_replaced") if e.target == bea.label)
    assert switched.action_label == "Connection switched in nodes"
    assert switched.summary == f"{wes.label} → {bea.label}; in 1 node(s)"
    created = next(e for e in _log(db, admin, "workflow_created") if e.target == old_name)
    _no_hex([*changed, switched, created], wf.id, node.id, wes.id, bea.id)


def test_a_renamed_connection_says_old_and_new(db: Session, admin: Actor) -> None:
    old, new = f"Stripe {next(_names)}", f"Stripe {next(_names)}"
    conn = make_stripe(db, admin, label=old)
    connections.update(db, actor=admin, connection_id=conn.id, label=new)
    entry = next(e for e in _log(db, admin, "updated") if e.connection_id == conn.id)
    assert entry.target == new and f"renamed {old} → {new}" in entry.summary


def test_people_are_named_by_email_and_failed_sign_ins_are_filterable(
    engine: Engine, db: Session, world: World, admin: Actor
) -> None:
    email = world.actors["builder1"].label
    with pytest.raises(Invalid):
        identity.authenticate(db, email=email, password="not-the-password", client="ip:10.9.8.7")
    failed = _log(db, admin, str(Action.SIGN_IN_FAILED))
    mine = [e for e in failed if e.target == email]
    assert mine and "from ip:10.9.8.7" in mine[0].summary
    assert "not-the-password" not in repr(failed)
    user_id = world.user_ids["builder1"]
    _no_hex(mine, user_id)
    members = [e for e in _log(db, admin, "member_added")]
    assert members and all("@" in e.target for e in members)


def test_a_from_date_after_the_to_date_is_explained(db: Session, admin: Actor) -> None:
    with pytest.raises(Invalid) as refused:
        audit_log.workspace_log(
            db,
            actor=admin,
            since=datetime(2026, 11, 25, tzinfo=UTC),
            until=datetime(2026, 11, 20, tzinfo=UTC),
        )
    assert refused.value.field == "since"
    assert "“from” date is after the “to” date" in str(refused.value)
