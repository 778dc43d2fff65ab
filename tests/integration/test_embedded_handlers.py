"""F32 handlers called the way a hostile browser can call them: the details panel's
"Use for embedded workflows" switch, and the portal's builder and node panel with
the ids of other clients, other workspaces and other accounts. Each is refused or
not found for the session's actor, and nothing changes (invariants 1 and 2)."""

from __future__ import annotations

import json

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core.audit import Action, AuditEvent
from connections_app.core.connections.models import Connection
from connections_app.core.workflows import runs
from connections_app.core.workflows import service as workflows
from connections_app.core.workflows.models import Node, Run, Workflow
from connections_app.ui.states.builder import BuilderState
from connections_app.ui.states.connection_details import DetailsState
from connections_app.ui.states.node_panel import NodePanelState
from connections_app.ui.states.rows import param_rows
from tests.conftest import World
from tests.integration.test_embedded_workflows import (  # noqa: F401
    Clients,
    _client_node,
    _stripe,
    clients,
)
from tests.integration.test_ui_handlers import (  # noqa: F401
    Cookie,
    as_browser,
)
from tests.integration.test_ui_handlers import signed_in_state as _as
from tests.standin_fixtures import StandIn

_n = iter(range(100_000))


def _snapshot(engine: Engine) -> tuple:
    """Everything these handlers could change; refusals only add `access_denied` events
    (and signing the test's people in adds theirs)."""
    with Session(engine) as db:
        conns = db.exec(select(Connection.id, Connection.embedded_enabled, Connection.label))
        nodes = db.exec(select(Node.id, Node.connection_id, Node.params, Node.position))
        events = db.exec(
            select(AuditEvent.id).where(
                AuditEvent.action.not_in([Action.ACCESS_DENIED, Action.SIGNED_IN])  # type: ignore[attr-defined]
            )
        ).all()
        return (
            sorted(conns.all()),
            sorted((n[0], n[1], json.dumps(n[2], sort_keys=True), n[3]) for n in nodes.all()),
            sorted(db.exec(select(Workflow.id, Workflow.name)).all()),
            sorted(db.exec(select(Run.id, Run.status)).all()),
            len(events),
        )


async def test_the_switch_handler_refuses_everyone_below_manage_and_foreign_ids(
    as_browser: type[Cookie],  # noqa: F811
    engine: Engine,
    world: World,
    clients: Clients,  # noqa: F811
) -> None:
    a = world.actors
    shared = _stripe(engine, a["admin1"], "use")
    own_of_client = _stripe(engine, a["admin1"], "use", authorized_by=clients.one.user_id)
    foreign = _stripe(engine, a["admin2"], "manage")
    other_account = _stripe(engine, a["foreign_admin"], "manage")
    before = _snapshot(engine)
    attempts = [
        ("builder1", shared),
        ("viewer1", shared),
        ("client1", shared),
        ("client1", own_of_client),
        ("admin2", shared),
        ("builder2", shared),
        ("foreign_admin", shared),
        ("admin1", foreign),
        ("admin1", other_account),
        ("acct_admin", other_account),
    ]
    for who, target in attempts:
        panel = await _as(engine, as_browser, world.user_ids[who], DetailsState)
        panel.connection_id, panel.open = target, True  # a forged panel
        assert await panel.switch_embedded(True) is not None  # an error toast
        assert panel.summary.embedded is False, (who, target)
    panel = await _as(engine, as_browser, world.user_ids["admin1"], DetailsState)
    for hostile in (None, "on", 1, [True], {"x": 1}):
        panel.connection_id, panel.open = shared, True
        await panel.switch_embedded(hostile)
    assert _snapshot(engine) == before
    # The panel a manager opens offers the switch, and it works.
    await panel.show(shared)
    assert panel.actions.embed is True and panel.summary.embedded is False
    await panel.switch_embedded(True)
    assert panel.summary.embedded is True
    viewer = await _as(engine, as_browser, world.user_ids["viewer1"], DetailsState)
    await viewer.show(shared)
    assert viewer.open and viewer.actions.embed is False


async def test_portal_builder_handlers_with_other_peoples_ids_change_nothing(
    as_browser: type[Cookie],  # noqa: F811
    engine: Engine,
    world: World,
    clients: Clients,  # noqa: F811
    standin: StandIn,
) -> None:
    a = world.actors
    exposed = _stripe(engine, a["admin1"], "use", embedded_enabled=True)
    hidden = _stripe(engine, a["admin1"], "use")
    elsewhere = _stripe(engine, a["admin2"], "use", embedded_enabled=True)
    theirs_wf, theirs_node = _client_node(engine, clients.other)  # the other client's
    team_wf, team_node = _client_node(engine, a["admin1"])  # the members'
    far_wf, far_node = _client_node(engine, clients.elsewhere)  # workspace 2's client
    foreign_wf, foreign_node = _client_node(engine, a["foreign_admin"])
    builder = await _as(engine, as_browser, clients.one.user_id, BuilderState)
    await builder.load()
    assert builder.can_edit is True and builder.can_transfer is False
    before = _snapshot(engine)
    for wf_id, node_id in (
        (theirs_wf, theirs_node),
        (team_wf, team_node),
        (far_wf, far_node),
        (foreign_wf, foreign_node),
    ):
        await builder.select(wf_id)
        assert builder.selected_id != wf_id
        await builder.move(node_id, "up")
        builder.remove_id = node_id
        await builder.confirm_remove()
        builder.selected_id = wf_id
        await builder.confirm_delete()
        builder.selected_id = wf_id
        await builder.rename({"name": f"Hijacked {next(_n)}"})
        assert "not found" in builder.form_error.lower()
        builder.selected_id = wf_id
        builder.add_choice = "stripe:create_customer"
        builder.add_fields = param_rows("stripe", "create_customer", {})
        await builder.add_node({"email": "x@example.test"})
        assert "not found" in builder.form_error.lower()
        builder.selected_id = wf_id
        assert await builder.export() is not None  # a toast, never a download
        panel = await builder.get_state(NodePanelState)
        assert await panel.open_panel(node_id) is not None
        assert panel.open is False
        panel.node_id = node_id  # a forged panel target
        await panel.pick(exposed)
        await panel.save_params({"email": "hijack@example.test"})
        await panel.clear_connection()
    await builder.import_document({"document": '{"format": "connections.workflow"}'})
    assert _snapshot(engine) == before

    # Its own workflow: the picker offers what is exposed, never the rest.
    own_wf, own_node = _client_node(engine, clients.one)
    await builder.select(own_wf)
    assert builder.selected_id == own_wf
    panel = await builder.get_state(NodePanelState)
    await panel.open_panel(own_node)
    offered = {o.id for o in panel.options}
    assert exposed in offered and not {hidden, elsewhere} & offered
    assert panel.can_connect is False and panel.can_switch_all is False
    before = _snapshot(engine)
    for forged in (hidden, elsewhere):
        await panel.pick(forged)
        assert "not found" in panel.error.lower()
    panel.connection_id = exposed
    await panel.switch_all(hidden)
    assert _snapshot(engine) == before
    await panel.pick(exposed)
    assert panel.connection_id == exposed and panel.conn_state == "active"
    # Withdrawn: the open panel, re-read on the workspace signal, says so.
    from connections_app.core.connections import embedded

    with Session(engine) as db:
        embedded.set_embedded(db, actor=a["admin1"], connection_id=exposed, enabled=False)
    await panel._on_workspace_change()
    assert exposed not in {o.id for o in panel.options}
    assert panel.conn_state == "unavailable"
    assert panel.conn_notice == workflows.UNAVAILABLE_NOTICE
    await builder._on_workspace_change()
    assert [n.conn_state for n in builder.nodes] == ["unavailable"]
    with Session(engine) as db:
        assert runs.history(db, actor=clients.one, workflow_id=own_wf).total == 0
