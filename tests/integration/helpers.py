"""Small builders shared by the service tests."""

from __future__ import annotations

import itertools
import os

import pytest
from sqlmodel import Session

from connections_app.core.connections import service
from connections_app.core.connections.views import ConnectionView
from connections_app.core.settings import get_settings
from connections_app.core.tenancy.actor import Actor
from connections_app.core.workflows import service as workflows
from connections_app.core.workflows.service import NodeView, WorkflowView

STRIPE_KEY = "sk_test_DemoStripeKey4242424242"
_counter = itertools.count()


def make_stripe(
    db: Session,
    actor: Actor,
    *,
    key: str = STRIPE_KEY,
    sharing: str = "use",
    label: str | None = None,
) -> ConnectionView:
    return service.create(
        db,
        actor=actor,
        app="stripe",
        label=label or f"Stripe {next(_counter)}",
        fields={"secret_key": key},
        sharing=sharing,
    )


def workflow_with_node(
    db: Session,
    actor: Actor,
    name: str,
    connection_id: str,
    params: dict[str, str],
    *,
    app: str = "stripe",
    action: str = "create_customer",
) -> tuple[WorkflowView, NodeView]:
    """A workflow with one node that uses `connection_id`: where run and audit tests start."""
    wf = workflows.create_workflow(db, actor=actor, name=name)
    node = workflows.add_node(
        db, actor=actor, workflow_id=wf.id, app=app, action=action, params=params
    )
    workflows.set_node_connection(db, actor=actor, node_id=node.id, connection_id=connection_id)
    return wf, node


def allow_egress(monkeypatch: pytest.MonkeyPatch, *entries: str) -> None:
    """Let connections reach more loopback destinations (the policy refuses loopback
    except the stand-in's own address, which the stand-in fixture allows)."""
    current = os.environ.get("CONNECTIONS_EGRESS_ALLOW", "")
    monkeypatch.setenv("CONNECTIONS_EGRESS_ALLOW", " ".join([current, *entries]).strip())
    get_settings.cache_clear()


def make_custom(
    db: Session,
    actor: Actor,
    standin_url: str,
    key: str,
    *,
    base_url: str | None = None,
    sharing: str = "use",
    test_path: str = "/me",
) -> ConnectionView:
    """A "Custom API key" connection (header X-Api-Key) whose key the stand-in accepts."""
    import httpx

    httpx.put(
        f"{standin_url}/_standin/credentials/custom",
        json={"header": "X-Api-Key", "value": key},
        timeout=5,
    ).raise_for_status()
    return service.create(
        db,
        actor=actor,
        app="custom_api_key",
        kind="api_key",
        label=f"Custom {next(_counter)}",
        sharing=sharing,
        fields={
            "base_url": base_url or standin_url.rstrip("/") + "/custom",
            "header_name": "X-Api-Key",
            "test_path": test_path,
            "api_key": key,
        },
    )
