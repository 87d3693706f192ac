"""Cost.json_text (the stored cost_json, built as text) is orjson's encoding of to_json."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from billing.pricing.types import Cost, CostLine

LINES = (
    CostLine("prompt", 0, Decimal("0"), 0),
    CostLine("completion", 5, Decimal("1.15E-7"), -3),
    CostLine("cache_write", 1, Decimal("2.5"), 2_500_000),
    CostLine("cache_read", 12_345, Decimal("0.3"), 3_703_500),
)
ZERO = tuple(CostLine(line.token_type, 0, Decimal(0), 0) for line in LINES)
HOUR = CostLine("cache_write_1h", 7, Decimal("0.000006"), 42)


@pytest.mark.parametrize(
    "cost",
    [
        Cost("openAI", "gpt-4o-mini", "gpt-4o-mini", "default", "message", LINES),
        Cost("Local", "llama3.1:8b", None, "free", "message", ZERO),
        Cost("anthropic", "claude", "claude", "premium", "incomplete", (*LINES, HOUR)),
        # Names come from clients: quotes, backslashes, control and non-ASCII characters.
        Cost('end"\\point\n', "mod\u2028el ü \x01", 'k"ey', "fallback", "message", LINES),
        Cost(
            "big",
            "m",
            None,
            "token_config",
            "message",
            (CostLine("prompt", 10**9, Decimal(7), 7 * 10**15),),
        ),
    ],
)
def test_json_text_is_the_encoding_of_to_json(cost: Cost) -> None:
    assert cost.json_text() == orjson.dumps(cost.to_json()).decode()
    assert orjson.loads(cost.json_text()) == cost.to_json()
