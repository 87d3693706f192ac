"""The pricing hot path's fast constructors (pricing/types.py) build the very
objects the dataclass constructors build, still frozen; price_counts is price."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import orjson
import pytest

from billing.config.model import default_config
from billing.pricing.engine import PriceBook
from billing.pricing.types import Cost, CostLine, TokenCounts, cost_line, priced_cost

LINE = ("prompt", 1_234, Decimal("0.15"), 185_100)
LINES = (CostLine(*LINE), CostLine("completion", 0, Decimal("0.6"), 0))


def test_cost_line_is_the_dataclass_and_stays_frozen() -> None:
    line = cost_line(*LINE)
    assert type(line) is CostLine
    assert line == CostLine(*LINE)
    assert repr(line) == repr(CostLine(*LINE))
    assert hash(line) == hash(CostLine(*LINE))
    assert line.credits == Decimal("0.1851")
    with pytest.raises(dataclasses.FrozenInstanceError):
        line.micro = 0  # type: ignore[misc]


def test_priced_cost_is_the_dataclass_with_its_total() -> None:
    key = "gpt-4o-mini"
    built = priced_cost("openAI", key, key, "default", "message", LINES, 185_100)
    plain = Cost("openAI", "gpt-4o-mini", "gpt-4o-mini", "default", "message", LINES)
    assert type(built) is Cost
    assert built == plain and repr(built) == repr(plain)
    assert built.total_micro == plain.total_micro == 185_100
    assert built.json_text() == plain.json_text()
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.total_micro = 0  # type: ignore[misc]


@pytest.mark.parametrize("context", ["message", "incomplete"])
@pytest.mark.parametrize(
    "counts",
    [
        TokenCounts(),
        TokenCounts(1_000, 200, 1_000, 5_000),
        TokenCounts(250_000, 3, 0, 0, 7),  # a premium tier, 1-hour cache writes
        TokenCounts(1, 1, 1, 1, 1),
    ],
)
@pytest.mark.parametrize(
    ("endpoint", "model"),
    [("openAI", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5"), ("openAI", "unknown-x")],
)
def test_price_counts_is_price(
    endpoint: str, model: str, counts: TokenCounts, context: str
) -> None:
    book = PriceBook(default_config())
    p, c, w, r, h = dataclasses.astuple(counts)
    cost = book.price_counts(endpoint, model, p, c, w, r, h, context)
    expected = book.price(endpoint, model, counts, context)
    assert cost == expected
    assert cost.total_micro == sum(line.micro for line in cost.lines) == expected.total_micro
    assert cost.json_text() == expected.json_text() == orjson.dumps(cost.to_json()).decode()
