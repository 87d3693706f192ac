"""1-hour cache writes (Anthropic): their own line, at their own rate."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.config.model import ModelRates
from billing.errors import InvalidRequest
from billing.pricing.engine import PriceBook
from billing.pricing.types import LINE_TYPES, TOKEN_TYPES, TokenCounts
from tests.pricing.factories import config_with, custom, rates

# The docs/api.md worked example plus 2,000 tokens written to the 1-hour cache.
MIXED = TokenCounts(
    prompt=1000, completion=200, cache_write=1000, cache_read=5000, cache_write_1h=2000
)


@pytest.fixture(scope="module")
def book() -> PriceBook:
    negotiated = ModelRates(
        Decimal(3), Decimal(15), 200_000, Decimal("0.3"), Decimal("3.75"), Decimal("5.5")
    )
    return PriceBook(
        config_with(
            custom("Claude-Compatible", {"claude-sonnet-4-5": rates("3", "15", "0.3", "3.75")}),
            custom("Negotiated", {"claude-sonnet-4-5": negotiated}),
            custom("Tiny", {"nano": rates("0.0000001", "0.0000003")}),
            custom("Local", {"llama3": rates("1", "1")}, free=True),
        )
    )


def test_token_config_with_only_cache_write_bills_one_hour_at_twice_prompt(book: PriceBook) -> None:
    cost = book.price("Claude-Compatible", "claude-sonnet-4-5", MIXED)
    body = cost.to_json()
    assert body["lines"] == {
        "prompt": {"tokens": 1000, "rate": "3", "credits": "3000"},
        "completion": {"tokens": 200, "rate": "15", "credits": "3000"},
        "cache_write": {"tokens": 1000, "rate": "3.75", "credits": "3750"},
        "cache_read": {"tokens": 5000, "rate": "0.3", "credits": "1500"},
        "cache_write_1h": {"tokens": 2000, "rate": "6", "credits": "12000"},
    }
    assert body["total_credits"] == "23250"
    assert cost.total_micro == sum(line.micro for line in cost.lines)


def test_explicit_cache_write_1h_rate_wins(book: PriceBook) -> None:
    cost = book.price("Negotiated", "claude-sonnet-4-5", TokenCounts(cache_write_1h=1000))
    assert cost.line("cache_write_1h").rate == Decimal("5.5")
    assert cost.line("cache_write_1h").credits == Decimal(5500)
    assert book.resolve("Negotiated", "claude-sonnet-4-5")[0].cache_write_1h == Decimal("5.5")


def test_builtin_table_one_hour_rate(book: PriceBook) -> None:
    cost = book.price("anthropic", "claude-sonnet-4-5", MIXED)
    assert cost.priced_by == "default"
    assert cost.line("cache_write").rate == Decimal("3.75")  # the table's 5-minute write
    assert cost.line("cache_write_1h").rate == Decimal(6)
    haiku = book.price("anthropic", "claude-haiku-4-5", TokenCounts(cache_write_1h=1))
    assert haiku.line("cache_write_1h").rate == Decimal(2)


def test_one_hour_writes_count_toward_premium_and_follow_its_prompt(book: PriceBook) -> None:
    at = TokenCounts(prompt=100_000, cache_write_1h=172_000)
    above = TokenCounts(prompt=100_000, cache_write_1h=172_001)
    assert book.price("openAI", "gpt-5.4", at).line("cache_write_1h").rate == Decimal(5)
    cost = book.price("openAI", "gpt-5.4", above)
    assert cost.priced_by == "premium"
    assert cost.line("cache_write_1h").rate == Decimal(10)  # 2 x the premium prompt rate


def test_fallback_and_free(book: PriceBook) -> None:
    fallback = book.price("openAI", "my-local-model", TokenCounts(cache_write_1h=10))
    assert fallback.priced_by == "fallback"
    assert fallback.line("cache_write_1h").rate == Decimal(12)  # 2 x the default rate 6
    free = book.price("Local", "llama3", MIXED)
    assert free.total_micro == 0
    assert free.line("cache_write_1h").rate == Decimal(0)


def test_one_hour_line_is_rounded_once_half_even(book: PriceBook) -> None:
    # 3 x 0.0000002 = 0.0000006 credits = 0.6 micro -> 1; 5 x ... = 1.0 micro.
    assert (
        book.price("Tiny", "nano", TokenCounts(cache_write_1h=3)).line("cache_write_1h").micro == 1
    )
    # 0.5 micro rounds to the even 0.
    assert book.price("Tiny", "nano", TokenCounts(cache_write=5)).line("cache_write").micro == 0


def test_line_shape(book: PriceBook) -> None:
    plain = book.price("Claude-Compatible", "claude-sonnet-4-5", TokenCounts(prompt=1))
    assert tuple(line.token_type for line in plain.lines) == TOKEN_TYPES
    assert "cache_write_1h" not in plain.to_json()["lines"]  # (dict) only when present
    mixed = book.price("Claude-Compatible", "claude-sonnet-4-5", MIXED)
    assert tuple(line.token_type for line in mixed.lines) == LINE_TYPES
    assert list(mixed.to_json()["lines"]) == list(LINE_TYPES)  # type: ignore[call-overload]


def test_incomplete_leaves_one_hour_writes_at_their_rate(book: PriceBook) -> None:
    cost = book.price("Claude-Compatible", "claude-sonnet-4-5", MIXED, "incomplete")
    assert cost.line("cache_write_1h").credits == Decimal(12000)
    assert cost.line("completion").rate == Decimal("17.25")


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_bad_one_hour_count(book: PriceBook, bad: object) -> None:
    with pytest.raises(InvalidRequest) as info:
        book.price("openAI", "gpt-4o", TokenCounts(cache_write_1h=bad))  # type: ignore[arg-type]
    assert info.value.extra["field"] == "tokens.cache_write_1h"
