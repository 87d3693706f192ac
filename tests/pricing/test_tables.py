from __future__ import annotations

from decimal import Decimal

from billing.pricing.tables import load_default_tables


def test_loads_decimals_in_file_order() -> None:
    tables = load_default_tables()
    assert list(tables.token_values)[:4] == ["8k", "32k", "4k", "16k"]
    assert tables.token_values["4k"] == (Decimal("1.5"), Decimal("2"))
    assert tables.default_rate == Decimal(6)
    for prompt, completion in tables.token_values.values():
        assert type(prompt) is Decimal and type(completion) is Decimal


def test_cache_and_premium_tables() -> None:
    tables = load_default_tables()
    assert tables.cache_token_values["claude-sonnet-4-5"] == (Decimal("3.75"), Decimal("0.3"))
    threshold, prompt, completion = tables.premium_token_values["gpt-5.4"]
    assert (threshold, prompt, completion) == (272_000, Decimal(5), Decimal("22.5"))
    assert type(threshold) is int


def test_loaded_once() -> None:
    assert load_default_tables() is load_default_tables()
