"""Metering against the real stand-in model providers, on SQLite and PostgreSQL: spend
recorded per grant and UTC month from the usage the provider reports, the cap refusing
before anything is sent, a raised cap counting for the next step, account prices,
unpriced models, and the one-statement record under concurrent writers (F9, F25)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.audit import AuditEvent
from connections_app.core.connections import service as connections
from connections_app.core.connections.models import Grant
from connections_app.core.errors import Forbidden, Invalid, NotFound
from connections_app.core.metering import prices
from connections_app.core.metering import service as metering
from connections_app.core.metering.models import GrantSpend, ModelPrice
from connections_app.core.tenancy import metering as spend_scope
from connections_app.core.workflows import runs
from connections_app.core.workflows import service as workflows
from connections_app.standin.app import DEMO_CREDENTIALS
from tests.conftest import World
from tests.standin_fixtures import StandIn

OPENAI_KEY = DEMO_CREDENTIALS["openai"]["api_key"]
ANTHROPIC_KEY = DEMO_CREDENTIALS["anthropic"]["api_key"]
_n = iter(range(10_000))


@pytest.fixture
def factory(engine: Engine) -> Callable[[], Session]:
    return lambda: Session(engine, expire_on_commit=False)


def _account_key(db: Session, world: World, app: str = "openai") -> str:
    key = OPENAI_KEY if app == "openai" else ANTHROPIC_KEY
    view = connections.create(
        db,
        actor=world.actors["acct_admin"],
        app=app,
        kind="api_key",
        label=f"{'OpenAI' if app == 'openai' else 'Anthropic'} (agency) {next(_n)}",
        fields={"api_key": key},
        scope="account",
    )
    return view.id


def _grant(db: Session, world: World, conn_id: str, ws: str, cap_cents: int | None) -> Grant:
    grant = Grant(
        account_id=world.account_id,
        connection_id=conn_id,
        workspace_id=ws,
        monthly_cap_cents=cap_cents,
    )
    db.add(grant)
    db.commit()
    return grant


def _set_cap(db: Session, grant: Grant, cap_cents: int | None) -> None:
    grant.monthly_cap_cents = cap_cents
    db.add(grant)
    db.commit()


def _workflow(db: Session, actor, conn_id: str, params: dict[str, str], app: str = "openai") -> str:  # type: ignore[no-untyped-def]
    wf = workflows.create_workflow(db, actor=actor, name=f"llm-{next(_n)}")
    action = "chat_completion" if app == "openai" else "create_message"
    node = workflows.add_node(
        db, actor=actor, workflow_id=wf.id, app=app, action=action, params=params
    )
    workflows.set_node_connection(db, actor=actor, node_id=node.id, connection_id=conn_id)
    db.commit()
    return wf.id


def _run(db: Session, factory, actor, wf_id: str) -> runs.RunView:  # type: ignore[no-untyped-def]
    db.commit()
    run_id = runs.run_now(factory, actor=actor, workflow_id=wf_id)
    return runs.get(db, actor=actor, run_id=run_id)


def _spend(db: Session, conn_id: str, ws: str) -> metering.MonthSpend:
    db.commit()
    row = db.get(GrantSpend, (conn_id, ws, metering.month_key()))
    if row is None:
        return metering.MonthSpend(0, 0)
    db.refresh(row)
    return metering.MonthSpend(row.spent_micros, row.calls)


def _chats(standin: StandIn) -> int:
    return standin.control("GET", "/calls").json().get("openai:chat", 0)


def test_spend_until_the_cap_then_refused_before_sending_and_raising_it_works_next_step(
    db: Session, world: World, standin: StandIn, factory
) -> None:
    builder = world.actors["builder1"]
    conn_id = _account_key(db, world)
    grant = _grant(db, world, conn_id, world.ws1, 500)  # $5.00
    # gpt-4o lists at $2.50 in / $10.00 out per million: 1,000,000 + 1,000 tokens = $2.51.
    standin.control("PUT", "/usage/openai", {"input_tokens": 1_000_000, "output_tokens": 1_000})
    wf = _workflow(db, builder, conn_id, {"model": "gpt-4o", "prompt": "Hello"})
    for expected in (2_510_000, 5_020_000):
        view = _run(db, factory, builder, wf)
        assert view.status == "succeeded", view
        assert _spend(db, conn_id, world.ws1) == metering.MonthSpend(
            expected, expected // 2_510_000
        )
    assert _chats(standin) == 2

    refused = _run(db, factory, builder, wf)
    label = db.get(connections.Connection, conn_id).label  # type: ignore[union-attr]
    message = (
        f"Monthly spend cap of $5.00 for Client One on “{label}” reached ($5.02 used). "
        "An account admin can raise it on the LLM Keys page."
    )
    assert refused.status == "failed" and not refused.waiting
    assert refused.steps[0].status == "failed" and refused.steps[0].message == message
    assert _chats(standin) == 2, "nothing was sent to the provider"
    assert _spend(db, conn_id, world.ws1) == metering.MonthSpend(5_020_000, 2)
    event = db.exec(
        select(AuditEvent).where(
            AuditEvent.connection_id == conn_id, AuditEvent.action == "spend_cap_reached"
        )
    ).one()
    assert (event.workspace_id, event.outcome, event.detail["reason"]) == (
        world.ws1,
        "denied",
        "cap",
    )

    _set_cap(db, grant, 1_000)  # raised: the very next step goes through
    assert _run(db, factory, builder, wf).status == "succeeded"
    assert _chats(standin) == 3
    assert _spend(db, conn_id, world.ws1) == metering.MonthSpend(7_530_000, 3)


def test_spend_is_per_workspace_and_an_uncapped_grant_is_never_refused(
    db: Session, world: World, standin: StandIn, factory
) -> None:
    conn_id = _account_key(db, world)
    _grant(db, world, conn_id, world.ws1, 1)  # $0.01
    _grant(db, world, conn_id, world.ws2, None)
    # 40,000 × $0.15/M + 7 × $0.60/M = 6,000 + 4.2 → 6,005 micro-dollars a call.
    standin.control("PUT", "/usage/openai", {"input_tokens": 40_000})
    prompt = "Summarise"
    wf1 = _workflow(
        db, world.actors["builder1"], conn_id, {"model": "gpt-4o-mini", "prompt": prompt}
    )
    wf2 = _workflow(
        db, world.actors["builder2"], conn_id, {"model": "gpt-4o-mini", "prompt": prompt}
    )
    results = [_run(db, factory, world.actors["builder1"], wf1).status for _ in range(3)]
    assert results == ["succeeded", "succeeded", "failed"]
    for _ in range(3):
        assert _run(db, factory, world.actors["builder2"], wf2).status == "succeeded"
    assert _spend(db, conn_id, world.ws1) == metering.MonthSpend(12_010, 2)
    assert _spend(db, conn_id, world.ws2) == metering.MonthSpend(18_015, 3)
    usage = standin.control("GET", "/usage").json()
    assert [(u["input_tokens"], u["output_tokens"]) for u in usage] == [(40_000, 7)] * 5
    # The reader: pairs without a row are answered too, at zero.
    other = _account_key(db, world)
    read = metering.month_to_date(
        db, world.account_id, [(conn_id, world.ws1), (conn_id, world.ws2), (other, world.ws1)]
    )
    assert read == {
        (conn_id, world.ws1): metering.MonthSpend(12_010, 2),
        (conn_id, world.ws2): metering.MonthSpend(18_015, 3),
        (other, world.ws1): metering.MonthSpend(0, 0),
    }
    assert metering.month_to_date(db, world.other_account_id, [(conn_id, world.ws1)]) == {
        (conn_id, world.ws1): metering.MonthSpend(0, 0)
    }, "another account's reader sees nothing of this one"


def test_anthropic_usage_and_dated_model_names_are_priced(
    db: Session, world: World, standin: StandIn, factory
) -> None:
    conn_id = _account_key(db, world, "anthropic")
    _grant(db, world, conn_id, world.ws1, 10_000)
    standin.control("PUT", "/usage/anthropic", {"model": "claude-3-5-haiku-20241022"})
    wf = _workflow(
        db,
        world.actors["builder1"],
        conn_id,
        {"model": "claude-3-5-haiku", "prompt": "y" * 1000},
        "anthropic",
    )
    assert _run(db, factory, world.actors["builder1"], wf).status == "succeeded"
    # 1,000 × $0.80/M + 7 × $4.00/M = 800 + 28 micro-dollars.
    assert _spend(db, conn_id, world.ws1) == metering.MonthSpend(828, 1)


def test_an_account_price_overrides_the_catalog_for_the_next_call(
    db: Session, world: World, standin: StandIn, factory
) -> None:
    admin = world.actors["acct_admin"]
    conn_id = _account_key(db, world)
    _grant(db, world, conn_id, world.ws1, None)
    wf = _workflow(
        db, world.actors["builder1"], conn_id, {"model": "gpt-4o-mini", "prompt": "z" * 100}
    )
    assert _run(db, factory, world.actors["builder1"], wf).status == "succeeded"
    assert _spend(db, conn_id, world.ws1).spent_micros == 20  # 15 + 4.2 → ceil 20
    view = prices.set_price(
        db,
        actor=admin,
        app="openai",
        model="gpt-4o-mini",
        input_micros_per_mtok=prices.parse_dollars("1.00", field="input"),
        output_micros_per_mtok=prices.parse_dollars("2", field="output"),
    )
    assert (view.input_text, view.output_text, view.source) == ("$1.00", "$2.00", "account")
    assert _run(db, factory, world.actors["builder1"], wf).status == "succeeded"
    assert _spend(db, conn_id, world.ws1).spent_micros == 20 + 114  # 100 + 14
    listed = {(p.app, p.model): p for p in prices.list_prices(db, actor=admin, app="openai")}
    assert listed[("openai", "gpt-4o-mini")].source == "account"
    assert listed[("openai", "gpt-4o")].source == "catalog"
    prices.remove_price(db, actor=admin, app="openai", model="gpt-4o-mini")
    assert _run(db, factory, world.actors["builder1"], wf).status == "succeeded"
    assert _spend(db, conn_id, world.ws1).spent_micros == 20 + 114 + 20
    actions = db.exec(
        select(AuditEvent.action).where(
            AuditEvent.account_id == world.account_id, AuditEvent.target_type == "model_price"
        )
    ).all()
    assert list(actions)[-2:] == ["price_set", "price_removed"]


def test_an_unpriced_model_is_refused_on_a_capped_grant_and_counted_free_on_an_uncapped_one(
    db: Session, world: World, standin: StandIn, factory
) -> None:
    conn_id = _account_key(db, world)
    _grant(db, world, conn_id, world.ws1, 500)
    _grant(db, world, conn_id, world.ws2, None)
    wf1 = _workflow(db, world.actors["builder1"], conn_id, {"model": "gpt-9-turbo", "prompt": "hi"})
    before = _chats(standin)
    refused = _run(db, factory, world.actors["builder1"], wf1)
    assert refused.status == "failed"
    assert "“gpt-9-turbo”" in refused.steps[0].message  # type: ignore[operator]
    assert "account admin can set its price" in refused.steps[0].message  # type: ignore[operator]
    assert _chats(standin) == before and _spend(db, conn_id, world.ws1) == metering.MonthSpend(0, 0)

    wf2 = _workflow(db, world.actors["builder2"], conn_id, {"model": "gpt-9-turbo", "prompt": "hi"})
    assert _run(db, factory, world.actors["builder2"], wf2).status == "succeeded"
    assert _spend(db, conn_id, world.ws2) == metering.MonthSpend(0, 1)

    # Once an account admin prices it, the capped grant runs it and counts it.
    prices.set_price(
        db,
        actor=world.actors["acct_admin"],
        app="openai",
        model="gpt-9-turbo",
        input_micros_per_mtok=1_000_000,
        output_micros_per_mtok=1_000_000,
    )
    assert _run(db, factory, world.actors["builder1"], wf1).status == "succeeded"
    assert _spend(db, conn_id, world.ws1) == metering.MonthSpend(9, 1)  # 2 + 7 tokens at $1/M


def test_an_answer_without_usage_counts_the_call_and_a_workspace_key_is_not_metered(
    db: Session, world: World, standin: StandIn, factory
) -> None:
    conn_id = _account_key(db, world)
    _grant(db, world, conn_id, world.ws1, 500)
    standin.control("PUT", "/usage/openai", {"omit": True})
    wf = _workflow(db, world.actors["builder1"], conn_id, {"model": "gpt-4o", "prompt": "hi"})
    assert _run(db, factory, world.actors["builder1"], wf).status == "succeeded"
    assert _spend(db, conn_id, world.ws1) == metering.MonthSpend(0, 1)

    own = connections.create(
        db,
        actor=world.actors["admin1"],
        app="openai",
        kind="api_key",
        label=f"Own OpenAI {next(_n)}",
        fields={"api_key": OPENAI_KEY},
    )
    standin.control("PUT", "/usage/openai", {})
    wf_own = _workflow(db, world.actors["builder1"], own.id, {"model": "gpt-9", "prompt": "hi"})
    assert _run(db, factory, world.actors["builder1"], wf_own).status == "succeeded"
    db.commit()
    assert db.exec(select(GrantSpend).where(GrantSpend.connection_id == own.id)).all() == []


def test_only_account_admins_change_prices_and_bad_input_changes_nothing(
    db: Session, world: World
) -> None:
    before = db.exec(select(ModelPrice)).all()
    for name in ("admin1", "builder1", "viewer1", "client1", "foreign_admin"):
        actor = world.actors[name]
        if name == "foreign_admin":  # an account admin of another account: own rows only
            continue
        with pytest.raises(Forbidden):
            prices.set_price(
                db,
                actor=actor,
                app="openai",
                model="gpt-4o",
                input_micros_per_mtok=1,
                output_micros_per_mtok=1,
            )
        with pytest.raises(Forbidden):
            prices.remove_price(db, actor=actor, app="openai", model="gpt-4o")
        with pytest.raises(Forbidden):
            prices.list_prices(db, actor=actor)
    admin = world.actors["acct_admin"]
    bad = [
        {
            "app": "stripe",
            "model": "gpt-4o",
            "input_micros_per_mtok": 1,
            "output_micros_per_mtok": 1,
        },
        {"app": "nope", "model": "gpt-4o", "input_micros_per_mtok": 1, "output_micros_per_mtok": 1},
        {"app": "openai", "model": " ", "input_micros_per_mtok": 1, "output_micros_per_mtok": 1},
        {"app": "openai", "model": "a b", "input_micros_per_mtok": 1, "output_micros_per_mtok": 1},
        {"app": "openai", "model": "gpt", "input_micros_per_mtok": -1, "output_micros_per_mtok": 1},
        {
            "app": "openai",
            "model": "gpt",
            "input_micros_per_mtok": 1,
            "output_micros_per_mtok": "1",
        },
        {
            "app": "openai",
            "model": "gpt",
            "input_micros_per_mtok": True,
            "output_micros_per_mtok": 1,
        },
        {
            "app": "openai",
            "model": "gpt",
            "input_micros_per_mtok": 10**11,
            "output_micros_per_mtok": 1,
        },
    ]
    for kwargs in bad:
        with pytest.raises(Invalid):
            prices.set_price(db, actor=admin, **kwargs)
    with pytest.raises(NotFound):
        prices.remove_price(db, actor=admin, app="openai", model="never-set")
    db.rollback()
    assert db.exec(select(ModelPrice)).all() == before
    # Another account's admin writes its own row, never this account's.
    foreign = world.actors["foreign_admin"]
    foreign_admin = type(foreign)(**{**foreign.__dict__, "is_account_admin": True})
    prices.set_price(
        db,
        actor=foreign_admin,
        app="openai",
        model="gpt-4o",
        input_micros_per_mtok=7,
        output_micros_per_mtok=7,
    )
    assert spend_scope.get_price(db, admin, app="openai", model="gpt-4o") is None
    assert all(
        p.source == "catalog"
        for p in prices.list_prices(db, actor=admin, app="openai")
        if p.model == "gpt-4o"
    )


def test_record_adds_in_one_statement_under_concurrent_writers(
    engine: Engine, db: Session, world: World
) -> None:
    conn_id = _account_key(db, world)
    month = "2031-07"
    threads, each = 8, 25

    def writer(n: int) -> None:
        for i in range(each):
            with Session(engine) as s:
                spend_scope.add_spend(
                    s,
                    account_id=world.account_id,
                    connection_id=conn_id,
                    workspace_id=world.ws1,
                    month=month,
                    micros=n * 1000 + i,
                )
                s.commit()

    pool = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    row = db.get(GrantSpend, (conn_id, world.ws1, month))
    assert row is not None
    db.refresh(row)
    expected = sum(n * 1000 + i for n in range(threads) for i in range(each))
    assert (row.spent_micros, row.calls) == (expected, threads * each)
    assert row.account_id == world.account_id


def test_the_stand_in_reports_usage_like_the_providers_and_refuses_bad_settings(
    standin: StandIn,
) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {OPENAI_KEY}"}
    sent = {"model": "gpt-4o-mini", "prompt": "abcd"}
    answer = httpx.post(f"{standin.url}/openai/v1/chat/completions", json=sent, headers=headers)
    assert answer.json()["model"] == "gpt-4o-mini"
    assert answer.json()["usage"] == {
        "prompt_tokens": 4,
        "completion_tokens": 7,
        "total_tokens": 11,
    }
    claude = httpx.post(
        f"{standin.url}/anthropic/v1/messages",
        json={"model": "claude-3-haiku", "prompt": "ab"},
        headers={"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"},
    ).json()
    assert claude["usage"] == {"input_tokens": 2, "output_tokens": 7}
    for bad in ({"input_tokens": -1}, {"output_tokens": "9"}, {"colour": 1}, [1]):
        response = httpx.put(f"{standin.url}/_standin/usage/openai", json=bad)
        assert response.status_code == 400
    assert len(standin.control("GET", "/usage").json()) == 2
