"""Runs against the stand-in provider: steps in order, use recorded, parking on a broken
OAuth connection and resuming after a reconnect, test mode, missing and revoked
connections, hostile ids (F22, F28, F30)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.audit import AuditEvent
from connections_app.core.connections import service as connections
from connections_app.core.connections import tokens
from connections_app.core.connections.models import Connection
from connections_app.core.errors import Forbidden, Invalid, NotFound
from connections_app.core.vault import Vault
from connections_app.core.workflows import runs
from connections_app.core.workflows import service as workflows
from connections_app.core.workflows.models import Run, RunStep
from connections_app.standin.app import DEMO_CREDENTIALS
from tests.conftest import World
from tests.integration.oauth_helpers import connect, register_clients, session_for
from tests.standin_fixtures import StandIn

STRIPE_LIVE = DEMO_CREDENTIALS["stripe"]["secret_key"]
STRIPE_TEST = DEMO_CREDENTIALS["stripe:test"]["secret_key"]
SLACK_TOKEN = DEMO_CREDENTIALS["slack"]["bot_token"]
_names = iter(f"wf-{n}" for n in range(10_000))
_accounts = iter(f"run{n}" for n in range(10_000))


@pytest.fixture
def factory(engine: Engine) -> Callable[[], Session]:
    return lambda: Session(engine, expire_on_commit=False)


@pytest.fixture
def db(engine: Engine):  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture(scope="module")
def registered(engine: Engine, vault: Vault) -> None:
    register_clients(engine, vault, ("slack",))


def _stripe(db: Session, actor, *, test_key: str | None = None, label: str | None = None):  # type: ignore[no-untyped-def]
    return connections.create(
        db,
        actor=actor,
        app="stripe",
        kind="api_key",
        label=label or f"Stripe {next(_names)}",
        fields={"secret_key": STRIPE_LIVE},
        test_fields={"secret_key": test_key} if test_key else None,
    )


def _workflow(db: Session, actor, *nodes: tuple[str, str, dict, str | None]):  # type: ignore[no-untyped-def]
    wf = workflows.create_workflow(db, actor=actor, name=next(_names))
    for app, action, params, conn_id in nodes:
        node = workflows.add_node(
            db, actor=actor, workflow_id=wf.id, app=app, action=action, params=params
        )
        if conn_id:
            workflows.set_node_connection(db, actor=actor, node_id=node.id, connection_id=conn_id)
    return wf


def _run(db: Session, factory, **kwargs) -> str:  # type: ignore[no-untyped-def]
    db.commit()  # SQLite: end this session's transaction so the run's sessions may write
    return runs.run_now(factory, **kwargs)


def _resume(db: Session, factory, **kwargs) -> int:  # type: ignore[no-untyped-def]
    db.commit()
    return runs.resume_ready(factory, **kwargs)


def _use_count(db: Session, conn_id: str) -> int:
    db.commit()
    row = db.get(Connection, conn_id)
    assert row is not None
    db.refresh(row)
    return row.use_count


def test_a_run_calls_each_app_in_order_and_records_use(
    engine: Engine, db: Session, world: World, standin: StandIn, factory
) -> None:
    admin = world.actors["admin1"]
    stripe = _stripe(db, admin)
    slack = connections.create(
        db,
        actor=admin,
        app="slack",
        kind="api_key",
        label=f"Slack {next(_names)}",
        fields={"bot_token": SLACK_TOKEN},
    )
    wf = _workflow(
        db,
        admin,
        ("stripe", "create_customer", {"email": "a@example.test", "name": "Ada"}, stripe.id),
        ("slack", "post_message", {"channel": "#sales", "text": "New customer"}, slack.id),
    )
    run_id = _run(db, factory, actor=admin, workflow_id=wf.id)
    view = runs.get(db, actor=admin, run_id=run_id)
    assert view.status == "succeeded", view
    assert [s.status for s in view.steps] == ["succeeded", "succeeded"]
    assert '"cus_standin"' in view.steps[0].result and '"livemode": true' in view.steps[0].result
    assert '"#sales"' in view.steps[1].result  # the stand-in echoes what it received
    assert _use_count(db, stripe.id) == 1 and _use_count(db, slack.id) == 1
    calls = standin.control("GET", "/calls").json()
    assert calls["stripe:create_customer"] == 1 and calls["slack:post_message"] == 1
    # No credential in the stored run.
    db.commit()
    with Session(engine) as s:
        stored = repr(s.exec(select(RunStep).where(RunStep.run_id == run_id)).all())
        stored += repr(s.get(Run, run_id))
    assert STRIPE_LIVE not in stored and SLACK_TOKEN not in stored
    history = runs.history(db, actor=world.actors["viewer1"], workflow_id=wf.id)
    assert [r.id for r in history.items] == [run_id]


def test_test_mode_uses_test_credentials_and_skips_nodes_without_them(
    engine: Engine, db: Session, world: World, standin: StandIn, factory
) -> None:
    admin = world.actors["admin1"]
    with_test = _stripe(db, admin, test_key=STRIPE_TEST)
    live_only = _stripe(db, admin)
    wf = _workflow(
        db,
        admin,
        ("stripe", "create_customer", {"email": "t@example.test"}, with_test.id),
        ("stripe", "create_customer", {"email": "u@example.test"}, live_only.id),
    )
    run_id = _run(db, factory, actor=admin, workflow_id=wf.id, mode="test")
    view = runs.get(db, actor=admin, run_id=run_id)
    assert view.mode == "test" and view.status == "succeeded"
    first, second = view.steps
    assert first.status == "succeeded" and '"livemode": false' in first.result
    assert second.status == "skipped" and "no test credentials" in (second.message or "")
    calls = standin.control("GET", "/calls").json()
    assert calls.get("stripe:create_customer:test") == 1
    assert "stripe:create_customer:live" not in calls


def _three_stripe_nodes(db: Session, actor, *conn_ids: str | None):  # type: ignore[no-untyped-def]
    emails = ("a@example.test", "b@example.test", "c@example.test")
    return _workflow(
        db,
        actor,
        *[
            ("stripe", "create_customer", {"email": e}, c)
            for e, c in zip(emails, conn_ids, strict=False)
        ],
    )


def test_run_is_refused_while_a_node_has_no_usable_connection_naming_the_nodes(
    engine: Engine, db: Session, world: World, standin: StandIn, factory
) -> None:
    admin = world.actors["admin1"]
    doomed, fine = _stripe(db, admin), _stripe(db, admin)
    wf = _three_stripe_nodes(db, admin, doomed.id, None, fine.id)
    first, second, _third = workflows.list_nodes(db, actor=admin, workflow_id=wf.id)
    connections.delete(db, actor=admin, connection_id=doomed.id)
    nodes = workflows.list_nodes(db, actor=admin, workflow_id=wf.id)
    assert nodes[0].connection_id == doomed.id and nodes[0].connection_status is None
    db.commit()
    with Session(engine) as s:
        before = s.exec(select(func.count()).select_from(Run)).one()
    with pytest.raises(Invalid) as refused:
        _run(db, factory, actor=admin, workflow_id=wf.id)
    message = str(refused.value)
    assert "these nodes have no usable connection" in message
    assert f"1. “{first.label}” (connection missing)" in message
    assert f"2. “{second.label}” (no connection picked)" in message
    assert message.count("“") == 2  # the usable third node is not named
    assert refused.value.field == "connection"
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Run)).one() == before  # nothing written
    assert standin.control("GET", "/calls").json().get("stripe:create_customer") is None

    revoked_wf = _workflow(db, admin, ("stripe", "create_customer", {"email": "d@e.test"}, fine.id))
    db.commit()
    with Session(engine) as s:
        row = s.get(Connection, fine.id)
        assert row is not None
        row.status = "revoked"
        s.add(row)
        s.commit()
    with pytest.raises(Invalid, match=r"this node has no usable connection: .*was revoked"):
        _run(db, factory, actor=admin, workflow_id=revoked_wf.id)


def test_a_connection_deleted_after_the_start_fails_its_step_clearly(
    engine: Engine, db: Session, world: World, standin: StandIn, factory
) -> None:
    admin = world.actors["admin1"]
    doomed, fine = _stripe(db, admin), _stripe(db, admin)
    wf = _three_stripe_nodes(db, admin, fine.id, doomed.id, fine.id)
    run_id = runs.start(db, actor=admin, workflow_id=wf.id)
    connections.delete(db, actor=admin, connection_id=doomed.id)
    db.commit()
    with factory() as s:
        runs.execute(s, run_id)
    view = runs.get(db, actor=admin, run_id=run_id)
    assert view.status == "failed"
    assert "Connection missing" in (view.steps[1].message or "")
    assert [s.status for s in view.steps] == ["succeeded", "failed", "skipped"]
    assert view.summary == "1 succeeded, 1 failed, 1 skipped"


def test_a_test_mode_run_where_nothing_ran_says_so(
    engine: Engine, db: Session, world: World, standin: StandIn, factory
) -> None:
    admin = world.actors["admin1"]
    live_only = _stripe(db, admin)
    wf = _three_stripe_nodes(db, admin, live_only.id, live_only.id)
    view = runs.get(
        db, actor=admin, run_id=_run(db, factory, actor=admin, workflow_id=wf.id, mode="test")
    )
    assert view.status == "nothing_ran"
    assert view.message == "Nothing ran: every step was skipped (no node has test credentials)."
    assert view.summary == "2 skipped"  # the run page and builder say the same
    assert standin.control("GET", "/calls").json().get("stripe:create_customer:live") is None


def test_run_summaries_count_each_outcome() -> None:
    assert runs.summarize([]) == ""
    assert runs.summarize(["succeeded"] * 5) == "5 succeeded"
    assert runs.summarize(["failed"] + ["skipped"] * 4) == "1 failed, 4 skipped"
    assert runs.summarize(["succeeded", "waiting", "pending"]) == (
        "1 succeeded, 1 waiting, 1 not run yet"
    )


def test_a_broken_oauth_connection_parks_the_run_and_a_reconnect_resumes_it(
    engine: Engine, vault: Vault, db: Session, world: World, standin: StandIn, factory, registered
) -> None:
    token = session_for(engine, world.user_ids["admin1"])
    account = next(_accounts)
    outcome = connect(engine, vault, token, account=account)
    assert outcome.ok and outcome.connection_id
    admin = world.actors["admin1"]
    wf = _workflow(
        db,
        admin,
        ("slack", "post_message", {"channel": "#ops", "text": "one"}, outcome.connection_id),
    )
    # The provider now refuses the refresh token; the access token expires.
    standin.control("PUT", "/oauth/slack/settings", {"token_mode": "invalid_grant"})
    standin.control("POST", "/oauth/slack/expire")
    db.commit()
    with Session(engine) as s:
        conn = s.get(Connection, outcome.connection_id)
        assert conn is not None
        conn.token_expires_at = conn.created_at  # our side knows it has expired too
        s.add(conn)
        s.commit()
    run_id = _run(db, factory, actor=admin, workflow_id=wf.id)
    view = runs.get(db, actor=admin, run_id=run_id)
    assert view.status == "waiting", view
    assert view.waiting_on == outcome.connection_id
    assert view.steps[0].status == "waiting" and "reconnected" in (view.steps[0].message or "")
    # Nothing resumes while the connection is still broken.
    assert _resume(db, factory) == 0
    # Reconnect (the same account), then the resume sweep runs it to the end.
    standin.control("PUT", "/oauth/slack/settings", {"token_mode": "ok"})
    again = connect(engine, vault, token, account=account, target=outcome.connection_id)
    assert again.ok, again.message
    assert _resume(db, factory, workspace_id=admin.workspace_id) == 1
    view = runs.get(db, actor=admin, run_id=run_id)
    assert view.status == "succeeded" and view.steps[0].status == "succeeded"
    assert view.steps[0].attempts == 2
    db.commit()
    with Session(engine) as s:
        actions = s.exec(
            select(AuditEvent.action).where(AuditEvent.target_id == run_id).order_by(AuditEvent.seq)
        ).all()
    assert actions == ["run_started", "run_waiting", "run_resumed", "run_finished"]


def test_revoked_while_waiting_fails_on_resume(
    engine: Engine, vault: Vault, db: Session, world: World, standin: StandIn, factory, registered
) -> None:
    token = session_for(engine, world.user_ids["admin1"])
    outcome = connect(engine, vault, token, account=next(_accounts))
    assert outcome.connection_id
    admin = world.actors["admin1"]
    wf = _workflow(
        db, admin, ("slack", "post_message", {"channel": "#x", "text": "y"}, outcome.connection_id)
    )
    tokens.mark_needs_reauthorization(db, outcome.connection_id, "test: broken")
    run_id = _run(db, factory, actor=admin, workflow_id=wf.id)
    assert runs.get(db, actor=admin, run_id=run_id).status == "waiting"
    tokens.revoke(db, actor=admin, connection_id=outcome.connection_id, vault=vault)
    db.commit()
    assert runs.retry(db, actor=admin, run_id=run_id) == "failed"
    view = runs.get(db, actor=admin, run_id=run_id)
    assert "revoked" in (view.steps[0].message or "")


def test_two_resumers_run_a_parked_run_once(
    engine: Engine, vault: Vault, db: Session, world: World, standin: StandIn, factory, registered
) -> None:
    token = session_for(engine, world.user_ids["admin1"])
    outcome = connect(engine, vault, token, account=next(_accounts))
    assert outcome.connection_id
    admin = world.actors["admin1"]
    wf = _workflow(
        db, admin, ("slack", "post_message", {"channel": "#x", "text": "z"}, outcome.connection_id)
    )
    tokens.mark_needs_reauthorization(db, outcome.connection_id, "test: broken")
    run_id = _run(db, factory, actor=admin, workflow_id=wf.id)
    db.commit()
    with Session(engine) as s:
        conn = s.get(Connection, outcome.connection_id)
        assert conn is not None
        conn.status, conn.status_reason = "active", None
        s.add(conn)
        s.commit()
    db.commit()
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(runs.resume_ready(factory)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 1
    assert runs.get(db, actor=admin, run_id=run_id).status == "succeeded"
    assert standin.control("GET", "/calls").json()["slack:post_message"] == 1


def test_hostile_ids_and_roles(
    engine: Engine, db: Session, world: World, standin: StandIn, factory
) -> None:
    admin, foreign = world.actors["admin1"], world.actors["foreign_admin"]
    stripe = _stripe(db, admin)
    wf = _workflow(db, admin, ("stripe", "create_customer", {"email": "a@e.test"}, stripe.id))
    run_id = _run(db, factory, actor=admin, workflow_id=wf.id)
    db.commit()
    with Session(engine) as s:
        before = s.exec(select(func.count()).select_from(Run)).one()
    for actor in (foreign, world.actors["admin2"]):
        with pytest.raises(NotFound):
            runs.start(db, actor=actor, workflow_id=wf.id)
        with pytest.raises(NotFound):
            runs.get(db, actor=actor, run_id=run_id)
        assert runs.history(db, actor=actor).total == 0 or all(
            r.id != run_id for r in runs.history(db, actor=actor).items
        )
    with pytest.raises(Forbidden):
        runs.start(db, actor=world.actors["viewer1"], workflow_id=wf.id)
    for bad in (None, 7, ["x"], {"id": wf.id}, "x" * 500):
        with pytest.raises((NotFound, Invalid)):
            runs.start(db, actor=admin, workflow_id=bad)
    with pytest.raises(Invalid):
        runs.start(db, actor=admin, workflow_id=wf.id, mode="prod")
    with pytest.raises(Invalid):
        runs.history(db, actor=admin, page=0)
    db.commit()
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Run)).one() == before
    empty = workflows.create_workflow(db, actor=admin, name=next(_names))
    with pytest.raises(Invalid, match="no nodes"):
        runs.start(db, actor=admin, workflow_id=empty.id)


def test_connect_from_a_node_panel_selects_the_new_connection_on_that_node(
    engine: Engine, vault: Vault, db: Session, world: World, standin: StandIn, registered
) -> None:
    admin = world.actors["admin1"]
    wf = _workflow(db, admin, ("slack", "post_message", {"channel": "#a", "text": "b"}, None))
    stripe_wf = _workflow(db, admin, ("stripe", "create_customer", {"email": "a@e.test"}, None))
    node = workflows.list_nodes(db, actor=admin, workflow_id=wf.id)[0]
    stripe_node = workflows.list_nodes(db, actor=admin, workflow_id=stripe_wf.id)[0]
    foreign_wf = _workflow(
        db, world.actors["admin2"], ("slack", "post_message", {"channel": "#a", "text": "b"}, None)
    )
    foreign_node = workflows.list_nodes(
        db, actor=world.actors["admin2"], workflow_id=foreign_wf.id
    )[0]
    db.commit()
    token = session_for(engine, world.user_ids["admin1"])
    with pytest.raises(NotFound):
        connect(engine, vault, token, account=next(_accounts), node=foreign_node.id)
    with pytest.raises(Invalid, match="another app"):
        connect(engine, vault, token, account=next(_accounts), node=stripe_node.id)
    outcome = connect(engine, vault, token, account=next(_accounts), node=node.id)
    assert outcome.ok and outcome.connection_id
    after = workflows.list_nodes(db, actor=admin, workflow_id=wf.id)[0]
    assert after.connection_id == outcome.connection_id and after.connection_status == "active"
    untouched = workflows.list_nodes(db, actor=world.actors["admin2"], workflow_id=foreign_wf.id)
    assert untouched[0].connection_id is None
