"""Spend under real concurrency on PostgreSQL (issue 12, Done when): two worker
processes × 50 threads execute 300 single-step runs through one granted OpenAI key
whose cap is reached after about 50 calls. The recorded spend must equal the sum of
what the provider reported (no lost update), every call the provider answered must be
counted, and the overshoot past the cap must stay within the documented bound: below
the cost of the calls in flight when the cap was crossed, at most one per executing
run (here 100), each at most the dearest call."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.connections import service as connections
from connections_app.core.connections.models import Grant
from connections_app.core.metering import prices
from connections_app.core.metering import service as metering
from connections_app.core.metering.models import GrantSpend
from connections_app.core.vault import Vault
from connections_app.core.workflows import runs
from connections_app.core.workflows import service as workflows
from connections_app.core.workflows.models import RunStep
from connections_app.standin.app import DEMO_CREDENTIALS
from connections_app.standin.overrides import catalog_env
from tests.conftest import World
from tests.standin_fixtures import StandIn

PROCESSES, THREADS, RUNS = 2, 50, 300
PRICE = 100_000_000  # $100 per million tokens in and out: one call ≈ 2 cents
CAP_CENTS = 100
ROOT = Path(__file__).resolve().parents[2]


def test_two_processes_spend_exactly_what_the_provider_reported_and_stop_near_the_cap(
    engine: Engine,
    vault: Vault,
    world: World,
    standin: StandIn,
    db_url: str,
    master_key_bytes: bytes,
    tmp_path: Path,
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("concurrent writers from several processes are checked on PostgreSQL")
    admin, builder = world.actors["acct_admin"], world.actors["builder1"]
    with Session(engine, expire_on_commit=False) as db:
        key = connections.create(
            db,
            actor=admin,
            app="openai",
            kind="api_key",
            label="OpenAI (agency)",
            fields={"api_key": DEMO_CREDENTIALS["openai"]["api_key"]},
            scope="account",
        )
        db.add(
            Grant(
                account_id=world.account_id,
                connection_id=key.id,
                workspace_id=world.ws1,
                monthly_cap_cents=CAP_CENTS,
            )
        )
        db.commit()
        prices.set_price(
            db,
            actor=admin,
            app="openai",
            model="gpt-4o-mini",
            input_micros_per_mtok=PRICE,
            output_micros_per_mtok=PRICE,
        )
        # Three prompts of different lengths: the stand-in reports as many input tokens.
        flows = []
        for length in (150, 200, 250):
            wf = workflows.create_workflow(db, actor=builder, name=f"spend-{length}")
            node = workflows.add_node(
                db,
                actor=builder,
                workflow_id=wf.id,
                app="openai",
                action="chat_completion",
                params={"model": "gpt-4o-mini", "prompt": "p" * length},
            )
            workflows.set_node_connection(db, actor=builder, node_id=node.id, connection_id=key.id)
            flows.append(wf.id)
        db.commit()
        run_ids = [
            runs.start(db, actor=builder, workflow_id=flows[n % len(flows)]) for n in range(RUNS)
        ]

    env = {
        **os.environ,
        **catalog_env(standin.url),
        "REFLEX_DB_URL": db_url,
        "CONNECTIONS_MASTER_KEY": base64.urlsafe_b64encode(master_key_bytes).decode(),
        "CONNECTIONS_DATA_DIR": str(tmp_path),
    }
    share = [run_ids[n::PROCESSES] for n in range(PROCESSES)]
    began = time.monotonic()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.metering_worker",
                str(THREADS),
                ",".join(ids),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ids in share
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    counts: dict[str, int] = {}
    for out, _err in outputs:
        for status, n in json.loads(out.strip().splitlines()[-1]).items():
            counts[status] = counts.get(status, 0) + n
    assert sum(counts.values()) == RUNS, counts
    assert set(counts) <= {"succeeded", "failed"}, counts
    assert counts.get("failed", 0) > 0 and counts.get("succeeded", 0) > 0, counts

    reported = standin.control("GET", "/usage").json()
    costs = [-(-(u["input_tokens"] + u["output_tokens"]) * PRICE // 1_000_000) for u in reported]
    assert {u["input_tokens"] for u in reported} <= {150, 200, 250}
    with Session(engine) as db:
        row = db.get(GrantSpend, (key.id, world.ws1, metering.month_key()))
        assert row is not None
        failed_messages = {
            s.message
            for s in db.exec(
                select(RunStep).where(
                    RunStep.run_id.in_(run_ids),  # type: ignore[attr-defined]
                    RunStep.status == "failed",
                )
            ).all()
        }
    # No lost update: every answered call is in the month, at the price of what it used.
    assert len(reported) == counts["succeeded"] == row.calls
    assert standin.control("GET", "/calls").json()["openai:chat"] == counts["succeeded"]
    assert row.spent_micros == sum(costs)
    # Every refusal is the cap's, and happened before anything was sent.
    prefix = "Monthly spend cap of $1.00 for Client One on “OpenAI (agency)” reached ($"
    assert failed_messages and all(m and m.startswith(prefix) for m in failed_messages)
    # The bound: past the cap by less than the calls in flight at the crossing, at most
    # one per executing run (PROCESSES × THREADS), each at most the dearest call.
    cap = CAP_CENTS * metering.MICROS_PER_CENT
    assert row.spent_micros >= cap
    assert row.spent_micros - cap < PROCESSES * THREADS * max(costs)
    # Without the cap check all RUNS calls would have gone out: the test can tell.
    assert RUNS * min(costs) > cap + PROCESSES * THREADS * max(costs)
    assert time.monotonic() - began < 60
    print(f"metering: {counts}, spent {row.spent_micros} of cap {cap}, max call {max(costs)}")
