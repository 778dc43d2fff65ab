"""Small builders shared by the service tests."""

from __future__ import annotations

import itertools
import os
from typing import Any

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
    connection_id: str | None,
    params: dict[str, str],
    *,
    app: str = "stripe",
    action: str = "create_customer",
) -> tuple[WorkflowView, NodeView]:
    """A workflow with one node that uses `connection_id` (none yet: None): where run and
    audit tests start."""
    wf = workflows.create_workflow(db, actor=actor, name=name)
    node = workflows.add_node(
        db, actor=actor, workflow_id=wf.id, app=app, action=action, params=params
    )
    if connection_id is not None:
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


def grants_snapshot(engine: Any) -> tuple:
    """Grants, connections and the audit events other than recorded refusals: what a
    hostile call on the account screens must leave as it was."""
    from sqlalchemy import func
    from sqlmodel import select

    from connections_app.core.audit import AuditEvent
    from connections_app.core.connections.models import Connection, Grant

    with Session(engine) as db:
        return (
            sorted(
                (g.id, g.connection_id, g.workspace_id, g.monthly_cap_cents)
                for g in db.exec(select(Grant))
            ),
            sorted((c.id, c.label, c.status) for c in db.exec(select(Connection))),
            db.exec(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action != "access_denied")
            ).one(),
        )


def account_key(
    db: Session, actor: Actor, label: str, key: str = "sk-DemoAccountKey000111222"
) -> str:
    """An account-scope OpenAI connection (F9); returns its id."""
    return service.create(
        db, actor=actor, app="openai", label=label, fields={"api_key": key}, scope="account"
    ).id


def other_account_admin(engine: Any, account_id: str, workspace_id: str) -> Actor:
    """An account admin of another account (the hostile side of the account tests)."""
    from connections_app.core.identity import service as identity

    with Session(engine) as db:
        user = identity.create_user(
            db,
            email=f"other-admin-{next(_counter)}-{os.urandom(2).hex()}@example.test",
            name="Other admin",
            password="x" * 16,
        )
        identity.make_account_admin(db, account_id=account_id, user_id=user.id, by="test")
        return Actor(user.id, "other admin", account_id, workspace_id, None, True)
