"""Metering's pure parts: the month key at UTC month edges, a call's cost, dollars as
people read them, usage read from odd answers, price matching, and the catalog's
metering data validated on load."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from connections_app.core.catalog import load_catalog
from connections_app.core.catalog.loader import CatalogError, load_catalog_from_dir
from connections_app.core.catalog.models import AppDefinition, MeteringSpec
from connections_app.core.errors import Invalid
from connections_app.core.metering.prices import exact_dollars, parse_dollars
from connections_app.core.metering.service import (
    Price,
    Usage,
    cost_micros,
    dollars,
    match_price,
    month_key,
    read_usage,
)

OPENAI = load_catalog().get("openai").metering
ANTHROPIC = load_catalog().get("anthropic").metering


def test_month_key_is_the_utc_calendar_month_at_its_edges() -> None:
    assert month_key(datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)) == "2026-01"
    assert month_key(datetime(2026, 2, 1, 0, 0, tzinfo=UTC)) == "2026-02"
    assert month_key(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)) == "2026-12"
    assert month_key(datetime(2027, 1, 1, tzinfo=UTC)) == "2027-01"
    # 1 March 00:30 in UTC+2 is still February in UTC; 28 Feb 20:00 in UTC-5 is March.
    plus2 = timezone(timedelta(hours=2))
    minus5 = timezone(timedelta(hours=-5))
    assert month_key(datetime(2026, 3, 1, 0, 30, tzinfo=plus2)) == "2026-02"
    assert month_key(datetime(2026, 2, 28, 20, 0, tzinfo=minus5)) == "2026-03"
    assert month_key(datetime(2028, 2, 29, 12, 0)) == "2028-02"  # naive = UTC, leap day
    assert len(month_key()) == 7


def test_cost_is_integer_micro_dollars_rounded_up() -> None:
    mini = Price(150_000, 600_000, "catalog", "gpt-4o-mini")
    assert cost_micros(Usage("m", 1_000_000, 0), mini) == 150_000
    assert cost_micros(Usage("m", 0, 1_000_000), mini) == 600_000
    assert cost_micros(Usage("m", 1, 0), mini) == 1  # 0.15 micro-dollars → 1
    assert cost_micros(Usage("m", 0, 0), mini) == 0
    assert cost_micros(Usage("m", 13, 7), mini) == 7  # (1_950_000 + 4_200_000) / 1e6 = 6.15 → 7
    assert cost_micros(Usage("m", 20, 5), Price(2_500_000, 10_000_000, "c", "x")) == 100
    huge = Usage("m", 10**9, 10**9)
    assert cost_micros(huge, Price(10**10, 10**10, "c", "x")) == 2 * 10**13  # no overflow


def test_dollars_round_up_to_the_cent() -> None:
    assert dollars(5_000_000) == "$5.00"
    assert dollars(5_020_000) == "$5.02"
    assert dollars(5_000_001) == "$5.01"  # spend past a cap never reads as the cap
    assert dollars(0) == "$0.00"
    assert dollars(1_234_567_890_000) == "$1,234,567.89"
    assert exact_dollars(150_000) == "$0.15"
    assert exact_dollars(75_000) == "$0.075"
    assert exact_dollars(10_000_000) == "$10.00"


@pytest.mark.parametrize(
    ("text", "micros"),
    [("2.50", 2_500_000), ("$3", 3_000_000), ("0.000001", 1), (" 0.15 ", 150_000), ("0", 0)],
)
def test_prices_are_read_as_exact_dollars(text: str, micros: int) -> None:
    assert parse_dollars(text, field="input") == micros


@pytest.mark.parametrize("text", ["", "-1", "1e3", "0.0000001", "abc", "12345678", None, 2.5])
def test_bad_prices_are_refused_with_a_clear_message(text: object) -> None:
    with pytest.raises(Invalid, match="dollars per million tokens"):
        parse_dollars(text, field="input")


def test_openai_and_anthropic_usage_is_read_from_their_answers() -> None:
    answer = {
        "model": "gpt-4o-mini-2024-07-18",
        "usage": {"prompt_tokens": 13, "completion_tokens": 7, "total_tokens": 20},
    }
    assert read_usage(OPENAI, answer, "gpt-4o-mini") == Usage("gpt-4o-mini-2024-07-18", 13, 7)
    claude = {
        "model": "claude-3-5-haiku-20241022",
        "usage": {"input_tokens": 5, "output_tokens": 9},
    }
    assert read_usage(ANTHROPIC, claude) == Usage("claude-3-5-haiku-20241022", 5, 9)
    # No model in the answer: the request's model.
    no_model = {"usage": {"input_tokens": 5, "output_tokens": 9}}
    assert read_usage(ANTHROPIC, no_model, "claude-sonnet-4") == Usage("claude-sonnet-4", 5, 9)
    assert read_usage(ANTHROPIC, {**no_model, "model": 42}, None) == Usage(None, 5, 9)


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        "text",
        {},
        {"usage": None},
        {"usage": {"prompt_tokens": 3}},  # half a usage
        {"usage": {"prompt_tokens": "3", "completion_tokens": 1}},
        {"usage": {"prompt_tokens": -1, "completion_tokens": 1}},
        {"usage": {"prompt_tokens": 1.5, "completion_tokens": 1}},
        {"usage": {"prompt_tokens": True, "completion_tokens": 1}},
        {"usage": {"prompt_tokens": 10**12, "completion_tokens": 1}},
        {"usage": [1, 2]},
        {"truncated": "…"},
    ],
)
def test_missing_or_odd_usage_is_not_believed(answer: object) -> None:
    assert read_usage(OPENAI, answer, "gpt-4o") is None


def test_prices_match_exact_names_then_the_longest_dated_snapshot() -> None:
    table = {"gpt-4o": (1, 1), "gpt-4o-mini": (2, 2), "o3-mini": (3, 3)}
    assert match_price(table, "gpt-4o") == "gpt-4o"
    assert match_price(table, "gpt-4o-2024-08-06") == "gpt-4o"
    assert match_price(table, "gpt-4o-mini-2024-07-18") == "gpt-4o-mini"
    assert match_price(table, "gpt-4o-minix") is None
    assert match_price(table, "gpt-4o-audio") is None  # another model, not a snapshot
    assert match_price({"gpt-4o": (1, 1)}, "gpt-4o-mini") is None
    assert match_price({"claude-sonnet-4": (1, 1)}, "claude-sonnet-4-20250514") == "claude-sonnet-4"
    assert match_price(table, "o3-mini-latest") == "o3-mini"
    assert match_price(table, "gpt-4") is None
    assert match_price(table, None) is None
    assert match_price(table, "") is None


def test_shipped_model_providers_declare_usage_paths_and_prices() -> None:
    catalog = load_catalog()
    providers = [a for a in catalog.apps if a.model_provider]
    assert {a.key for a in providers} >= {"openai", "anthropic"}
    for app in providers:
        assert app.metering is not None and app.metering.prices, app.key
    assert OPENAI.input_tokens == "usage.prompt_tokens"
    assert OPENAI.output_tokens == "usage.completion_tokens"
    assert ANTHROPIC.input_tokens == "usage.input_tokens"
    assert OPENAI.prices["gpt-4o-mini"].input == 150_000
    assert ANTHROPIC.prices["claude-3-5-sonnet"].output == 15_000_000
    assert all(a.metering is None for a in catalog.apps if not a.model_provider)


def _openai_json() -> dict:
    return json.loads(load_catalog().get("openai").model_dump_json())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("metering"), "declares its metering"),
        (lambda d: d.update(model_provider=False), "declares its metering"),
        (lambda d: d["metering"].update(input_tokens="usage..x"), "input_tokens"),
        (lambda d: d["metering"]["prices"].update({"gpt-x": {"input": -1, "output": 1}}), "input"),
        (lambda d: d["metering"]["prices"].update({"gpt-x": {"input": 1.5, "output": 1}}), "input"),
        (lambda d: d["metering"]["prices"].update({"gpt-x": {"input": 1}}), "output"),
        (
            lambda d: d["metering"]["prices"].update({" bad name": {"input": 1, "output": 1}}),
            "model",
        ),
        (lambda d: d["metering"].update(surprise=1), "surprise"),
        (lambda d: d["metering"].update(model_param="engine"), "no action's parameter"),
    ],
)
def test_bad_metering_data_fails_on_load(change, message: str) -> None:  # type: ignore[no-untyped-def]
    data = _openai_json()
    change(data)
    with pytest.raises(ValidationError, match=message):
        AppDefinition.model_validate(data)


def test_a_bad_catalog_file_names_itself(tmp_path: Path) -> None:
    data = _openai_json()
    data["metering"]["prices"]["gpt-x"] = {"input": "cheap", "output": 1}
    (tmp_path / "openai.json").write_text(json.dumps(data))
    with pytest.raises(CatalogError, match=r"openai\.json"):
        load_catalog_from_dir(tmp_path)


def test_an_installation_overrides_list_prices_per_model() -> None:
    catalog = load_catalog(
        {"openai": {"metering": {"prices": {"gpt-4o": {"input": 1, "output": 2}}}}}
    )
    prices = catalog.get("openai").metering.prices  # type: ignore[union-attr]
    assert (prices["gpt-4o"].input, prices["gpt-4o"].output) == (1, 2)
    assert prices["gpt-4o-mini"].input == 150_000  # the others stay
    with pytest.raises(CatalogError):
        load_catalog({"openai": {"metering": {"input_tokens": "x"}}})
    with pytest.raises(CatalogError):
        load_catalog({"openai": {"metering": {"prices": {"gpt-4o": {"input": -5, "output": 2}}}}})


def test_metering_spec_defaults_read_the_model_from_the_answer() -> None:
    spec = MeteringSpec(input_tokens="a.b", output_tokens="a.c")
    assert (spec.model, spec.model_param, spec.prices) == ("model", "model", {})
