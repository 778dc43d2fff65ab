"""Small builders shared by the service tests."""

from __future__ import annotations

import itertools
import os

import pytest
from sqlmodel import Session

from connections_app.core.connections import service
from connections_app.core.connections.views import ConnectionView
from connections_app.core.settings import get_settings
from connections_app.core.tenancy import Actor

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


def allow_egress(monkeypatch: pytest.MonkeyPatch, *entries: str) -> None:
    """Let connections reach more loopback destinations (the policy refuses loopback
    except the stand-in's own address, which the stand-in fixture allows)."""
    current = os.environ.get("CONNECTIONS_EGRESS_ALLOW", "")
    monkeypatch.setenv("CONNECTIONS_EGRESS_ALLOW", " ".join([current, *entries]).strip())
    get_settings.cache_clear()
