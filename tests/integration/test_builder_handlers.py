"""Builder, node-panel and run handlers called the way a hostile browser can call them:
with another workspace's workflow, node, connection and run ids. Each is not found
for this session's actor and nothing changes (invariants 1 and 2; F15, F17, F22)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import reflex as rx
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.audit import AuditEvent
from connections_app.core.connections import service as connections
from connections_app.core.identity import service as identity
from connections_app.core.workflows import runs
from connections_app.core.workflows import service as workflows
from connections_app.core.workflows.models import Node, Run, Workflow
from connections_app.standin.app import DEMO_CREDENTIALS
from connections_app.ui.states.add_connection import AddConnectionState
from connections_app.ui.states.builder import BuilderState
from connections_app.ui.states.core_call import call_as
from connections_app.ui.states.node_panel import NodePanelState
from connections_app.ui.states.rows import RunRow, param_rows
from tests.conftest import World
from tests.integration.helpers import workflow_with_node
from tests.integration.test_ui_handlers import (  # noqa: F401
    Cookie,
    as_browser,
    signed_in_state,
)
from tests.standin_fixtures import StandIn

STRIPE = DEMO_CREDENTIALS["stripe"]["secret_key"]
_n = iter(range(100_000))


@pytest.fixture
def foreign(engine: Engine, world: World, standin: StandIn) -> Iterator[dict[str, str]]:
    """A workflow, node, connection and finished run in workspace 2 (admin1 is not there)."""
    admin2 = world.actors["admin2"]
    with Session(engine, expire_on_commit=False) as db:
        conn = connections.create(
            db,
            actor=admin2,
            app="stripe",
            kind="api_key",
            label=f"Foreign Stripe {next(_n)}",
            fields={"secret_key": STRIPE},
        )
        wf, node = workflow_with_node(
            db, admin2, f"Foreign {next(_n)}", conn.id, {"email": "f@example.test"}
        )
        db.commit()
    run_id = runs.run_now(
        lambda: Session(engine, expire_on_commit=False), actor=admin2, workflow_id=wf.id
    )
    yield {"conn": conn.id, "wf": wf.id, "node": node.id, "run": run_id}


def _snapshot(engine: Engine) -> tuple:
    with Session(engine) as db:
        nodes = db.exec(select(Node.id, Node.connection_id, Node.params, Node.position)).all()
        return (
            db.exec(select(func.count()).select_from(AuditEvent)).one(),
            db.exec(select(func.count()).select_from(Run)).one(),
            sorted(db.exec(select(Workflow.id, Workflow.name)).all()),
            sorted((n[0], n[1], json.dumps(n[2], sort_keys=True), n[3]) for n in nodes),
        )


async def _signed_in(engine: Engine, world: World, cookie: type[Cookie], cls: type[rx.State]):  # type: ignore[no-untyped-def]
    return await signed_in_state(engine, cookie, world.user_ids["admin1"], cls)


async def test_builder_handlers_with_foreign_ids_change_nothing(
    as_browser: type[Cookie],  # noqa: F811
    engine: Engine,
    world: World,
    foreign: dict[str, str],
) -> None:
    builder = await _signed_in(engine, world, as_browser, BuilderState)
    with Session(engine, expire_on_commit=False) as db:
        own = workflows.create_workflow(db, actor=world.actors["admin1"], name=f"Own {next(_n)}")
    await builder.load()
    before = _snapshot(engine)
    await builder.select(foreign["wf"])
    assert (builder.selected_id != foreign["wf"] and builder.nodes == []) or all(
        n.id != foreign["node"] for n in builder.nodes
    )
    await builder.move(foreign["node"], "up")
    builder.ask_remove(foreign["node"])
    assert builder.remove_open is False
    builder.remove_id = foreign["node"]  # even if the browser forged the dialog's target
    await builder.confirm_remove()
    builder.selected_id = foreign["wf"]
    await builder.confirm_delete()
    builder.selected_id = foreign["wf"]
    await builder.rename({"name": "Hijacked"})
    assert "not found" in builder.form_error.lower()
    builder.selected_id = foreign["wf"]
    builder.add_choice = "stripe:create_customer"
    builder.add_fields = param_rows("stripe", "create_customer", {})
    await builder.add_node({"email": "x@example.test"})
    assert "not found" in builder.form_error.lower()
    builder.selected_id = foreign["wf"]
    assert await builder.export() is not None  # a toast, not a download of their workflow
    retried = call_as(
        identity.session_ref(as_browser.value),
        lambda db, actor: runs.retry(db, actor=actor, run_id=foreign["run"]),
    )
    assert retried.gone and retried.message.endswith("not found.")
    for hostile in (None, 7, ["x"], {"id": 1}, "x" * 5000):
        await builder.select(hostile)
        await builder.move(hostile, "up")
        await builder.move(own.id, hostile)
    assert _snapshot(engine) == before
    # Its runs are not listed, and its run cannot be read.
    await builder.select(own.id)
    assert builder.last_run == RunRow()


async def test_node_panel_handlers_with_foreign_ids_change_nothing(
    as_browser: type[Cookie],  # noqa: F811
    engine: Engine,
    world: World,
    foreign: dict[str, str],
) -> None:
    admin1 = world.actors["admin1"]
    with Session(engine, expire_on_commit=False) as db:
        wf = workflows.create_workflow(db, actor=admin1, name=f"Mine {next(_n)}")
        node = workflows.add_node(
            db,
            actor=admin1,
            workflow_id=wf.id,
            app="stripe",
            action="create_customer",
            params={"email": "m@example.test"},
        )
        mine = connections.create(
            db,
            actor=admin1,
            app="stripe",
            kind="api_key",
            label=f"My Stripe {next(_n)}",
            fields={"secret_key": STRIPE},
        )
        db.commit()
    panel = await _signed_in(engine, world, as_browser, NodePanelState)
    assert await panel.open_panel(foreign["node"]) is not None  # "no longer exists"
    assert panel.open is False and panel.options == []
    await panel.open_panel(node.id)
    assert panel.open is True
    offered = {o.id for o in panel.options}
    assert mine.id in offered and foreign["conn"] not in offered
    before = _snapshot(engine)
    await panel.pick(foreign["conn"])
    assert "not found" in panel.error.lower()
    panel.node_id = foreign["node"]  # a forged panel target
    await panel.pick(mine.id)
    await panel.save_params({"email": "hijack@example.test"})
    await panel.clear_connection()
    panel.node_id = node.id
    panel.connection_id = foreign["conn"]  # forged "switch from"
    await panel.switch_all(mine.id)
    panel.connection_id = mine.id
    await panel.switch_all(foreign["conn"])
    for hostile in (None, 3, ["a"], {"x": 1}, "' OR 1=1 --"):
        await panel.pick(hostile)
        await panel.search_changed(hostile)
    assert _snapshot(engine) == before
    add = await panel.get_state(AddConnectionState)
    assert await add.open_for_node(foreign["node"]) is not None and add.for_node == ""
    # And the real thing works for this workspace's own ids.
    await panel.pick(mine.id)
    assert panel.connection_id == mine.id and panel.conn_state == "active"
