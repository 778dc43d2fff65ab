"""Small builders shared by the service tests."""

from __future__ import annotations

import itertools

from sqlmodel import Session

from connections_app.core.connections import service
from connections_app.core.connections.views import ConnectionView
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
