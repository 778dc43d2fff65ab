"""An account's own model prices, overriding the catalog's list prices (F25).

Negotiated rates, or a model the catalog does not list yet (a capped grant refuses
a model without a price). Account admins only; every change is audited. Prices are
micro-dollars per million tokens; `parse_dollars` reads "2.50" exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import Session

from connections_app.core import audit, guard
from connections_app.core.catalog import get_catalog
from connections_app.core.catalog.models import MAX_PRICE_MICROS, MODEL_NAME, AppDefinition
from connections_app.core.clock import utcnow
from connections_app.core.errors import Invalid, NotFound
from connections_app.core.metering.models import ModelPrice
from connections_app.core.tenancy import metering as spend_scope
from connections_app.core.tenancy.actor import Actor


@dataclass(frozen=True)
class PriceView:
    app: str
    model: str
    input_micros_per_mtok: int
    output_micros_per_mtok: int
    source: str  # "account" (an override) or "catalog"

    @property
    def input_text(self) -> str:
        return exact_dollars(self.input_micros_per_mtok)

    @property
    def output_text(self) -> str:
        return exact_dollars(self.output_micros_per_mtok)


def exact_dollars(micros: int) -> str:
    """ "$0.15", "$0.075": a price as set, never rounded (at least two decimals)."""
    whole, rest = divmod(micros, 1_000_000)
    fraction = f"{rest:06d}".rstrip("0").ljust(2, "0")
    return f"${whole:,}.{fraction}"


def parse_dollars(text: Any, *, field: str) -> int:
    """Dollars per million tokens ("2.50", "0.15", "$3") → whole micro-dollars."""
    if not isinstance(text, str) or not re.fullmatch(r"\$?\d{1,7}(\.\d{1,6})?", text.strip()):
        raise Invalid(
            f"{field} must be dollars per million tokens, like 2.50 (at most 6 decimals).",
            field=field,
        )
    try:
        micros = Decimal(text.strip().lstrip("$")) * 1_000_000
    except InvalidOperation:
        raise Invalid(f"{field} is not a number.", field=field) from None
    return int(micros)


def _provider(app: Any) -> AppDefinition:
    found = get_catalog().find(app)
    if found is None or not found.model_provider:
        providers = ", ".join(a.key for a in get_catalog().apps if a.model_provider)
        raise Invalid(f"Prices are set for model providers only ({providers}).", field="app")
    return found


def _model(model: Any) -> str:
    if not isinstance(model, str) or not re.fullmatch(MODEL_NAME, model.strip()):
        raise Invalid(
            "Model must be a provider's model name (letters, digits, . _ : / @ -).", field="model"
        )
    return model.strip()


def _micros(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PRICE_MICROS:
        raise Invalid(f"{field} must be between $0 and $10,000 per million tokens.", field=field)
    return value


def _require_account_admin(db: Session, actor: Actor, what: str) -> None:
    if not actor.is_account_admin:
        raise guard.refuse(
            db,
            actor,
            "Only account admins can change model prices.",
            what=what,
            target_type="account",
            target_id=actor.account_id,
        )


def _audit(db: Session, actor: Actor, action: str, detail: dict[str, Any]) -> None:
    audit.record(
        db,
        account_id=actor.account_id,
        action=action,
        target_type="model_price",
        target_id=f"{detail['app']}:{detail['model']}"[:64],
        actor_id=actor.user_id,
        actor_label=actor.label,
        detail=detail,
    )


def set_price(
    db: Session,
    *,
    actor: Actor,
    app: Any,
    model: Any,
    input_micros_per_mtok: Any,
    output_micros_per_mtok: Any,
) -> PriceView:
    """Set (or change) the account's price of one model; it applies to the next call."""
    _require_account_admin(db, actor, "set model price")
    provider = _provider(app)
    name = _model(model)
    price_in = _micros(input_micros_per_mtok, "Input price")
    price_out = _micros(output_micros_per_mtok, "Output price")
    row = spend_scope.get_price(db, actor, app=provider.key, model=name)
    before = None if row is None else (row.input_micros_per_mtok, row.output_micros_per_mtok)
    if row is None:
        row = ModelPrice(
            account_id=actor.account_id,
            app=provider.key,
            model=name,
            input_micros_per_mtok=price_in,
            output_micros_per_mtok=price_out,
        )
    row.input_micros_per_mtok, row.output_micros_per_mtok = price_in, price_out
    row.updated_by, row.updated_at = actor.user_id, utcnow()
    db.add(row)
    detail: dict[str, Any] = {
        "app": provider.key,
        "model": name,
        "input_micros_per_mtok": price_in,
        "output_micros_per_mtok": price_out,
    }
    if before is not None:
        detail["previous_input_micros_per_mtok"] = before[0]
        detail["previous_output_micros_per_mtok"] = before[1]
    _audit(db, actor, audit.Action.PRICE_SET, detail)
    db.commit()
    return PriceView(provider.key, name, price_in, price_out, "account")


def remove_price(db: Session, *, actor: Actor, app: Any, model: Any) -> None:
    """Drop the account's price: the catalog's list price (if any) applies again."""
    _require_account_admin(db, actor, "remove model price")
    provider = _provider(app)
    name = _model(model)
    row = spend_scope.get_price(db, actor, app=provider.key, model=name)
    if row is None:
        raise NotFound(f"This account has no own price for {provider.name} “{name}”.")
    db.delete(row)
    _audit(db, actor, audit.Action.PRICE_REMOVED, {"app": provider.key, "model": name})
    db.commit()


def list_prices(db: Session, *, actor: Actor, app: Any = None) -> list[PriceView]:
    """Every price that applies to the account: its own, then the catalog's it does not
    override, per app and model. Account admins only (prices are negotiated terms)."""
    if not actor.is_account_admin:
        raise guard.refuse(
            db,
            actor,
            "Only account admins can see model prices.",
            what="list model prices",
            target_type="account",
            target_id=actor.account_id,
        )
    apps = (
        [_provider(app)]
        if app not in (None, "")
        else [a for a in get_catalog().apps if a.model_provider]
    )
    views: list[PriceView] = []
    for provider in apps:
        own = {r.model: r for r in db.exec(spend_scope.prices_query(actor, provider.key)).all()}
        for name, r in own.items():
            views.append(
                PriceView(
                    provider.key, name, r.input_micros_per_mtok, r.output_micros_per_mtok, "account"
                )
            )
        for name, p in (provider.metering.prices if provider.metering else {}).items():
            if name not in own:
                views.append(PriceView(provider.key, name, p.input, p.output, "catalog"))
    return sorted(views, key=lambda v: (v.app, v.model))
