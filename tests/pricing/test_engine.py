from __future__ import annotations

from decimal import Decimal

import pytest

from billing.config.model import default_config
from billing.errors import InvalidRequest, UnknownEndpoint
from billing.pricing.engine import PriceBook
from billing.pricing.types import TOKEN_TYPES, Cost, TokenCounts
from tests.pricing.factories import config_with, custom, rates

WORKED = TokenCounts(prompt=1000, completion=200, cache_write=1000, cache_read=5000)


def line_rates(cost: Cost) -> dict[str, Decimal]:
    return {line.token_type: line.rate for line in cost.lines}


def line_credits(cost: Cost) -> dict[str, Decimal]:
    return {line.token_type: line.credits for line in cost.lines}


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook(
        config_with(
            custom(
                "Claude-Compatible",
                {"claude-sonnet-4-5": rates("3", "15", cache_read="0.3", cache_write="3.75")},
            ),
            custom("Overrides", {"gpt-4o": rates("1", "2"), "gpt-5.4": rates("2", "4")}),
            custom("Tiny", {"nano": rates("0.0000001", "0.0000003")}),
            custom("Local", {"llama3": rates("1", "1")}, free=True),
        )
    )


# --- the worked example ----------------------------------------------------


def test_worked_example_token_config(book: PriceBook) -> None:
    cost = book.price("Claude-Compatible", "claude-sonnet-4-5", WORKED)
    assert cost.total_micro == 11_250 * 1_000_000
    assert cost.priced_by == "token_config"
    assert cost.value_key == "claude-sonnet-4-5"
    body = cost.to_json()
    assert body["total_credits"] == "11250"
    assert body["total_usd"] == "0.01125"
    assert body["lines"] == {
        "prompt": {"tokens": 1000, "rate": "3", "credits": "3000"},
        "completion": {"tokens": 200, "rate": "15", "credits": "3000"},
        "cache_write": {"tokens": 1000, "rate": "3.75", "credits": "3750"},
        "cache_read": {"tokens": 5000, "rate": "0.3", "credits": "1500"},
    }


def test_worked_example_builtin_tables(book: PriceBook) -> None:
    cost = book.price("anthropic", "claude-sonnet-4-5", WORKED)
    assert (cost.priced_by, cost.value_key) == ("default", "claude-sonnet-4-5")
    assert cost.to_json()["total_credits"] == "11250"


def test_lines_always_four_in_order(book: PriceBook) -> None:
    cost = book.price("openAI", "gpt-4o", TokenCounts())
    assert tuple(line.token_type for line in cost.lines) == TOKEN_TYPES
    assert cost.total_micro == 0


# --- tokenConfig -------------------------------------------------------------


def test_token_config_exact_key(book: PriceBook) -> None:
    cost = book.price("Overrides", "gpt-4o", TokenCounts(prompt=10, completion=10, cache_read=10))
    assert (cost.priced_by, cost.value_key) == ("token_config", "gpt-4o")
    # Absent cache rates fall back to the entry's prompt rate.
    assert line_rates(cost) == {
        "prompt": Decimal(1),
        "completion": Decimal(2),
        "cache_write": Decimal(1),
        "cache_read": Decimal(1),
    }


def test_token_config_is_case_sensitive(book: PriceBook) -> None:
    cost = book.price("Overrides", "GPT-4o", TokenCounts(prompt=10))
    # Falls through to the built-in tables (matching there is case-insensitive).
    assert (cost.priced_by, cost.value_key) == ("default", "gpt-4o")
    assert cost.line("prompt").rate == Decimal("2.5")


def test_token_config_never_premium(book: PriceBook) -> None:
    cost = book.price("Overrides", "gpt-5.4", TokenCounts(prompt=1_000_000))
    assert cost.priced_by == "token_config"
    assert cost.line("prompt").rate == Decimal(2)


def test_token_config_on_other_endpoint_does_not_apply(book: PriceBook) -> None:
    cost = book.price("openAI", "claude-sonnet-4-5", TokenCounts(prompt=1))
    assert cost.priced_by == "default"


def test_rate_below_a_micro_credit_rounds_half_even(book: PriceBook) -> None:
    # 1e-7 credits per token: 5 tokens = 0.5 micro -> 0; 15 tokens = 1.5 -> 2.
    assert book.price("Tiny", "nano", TokenCounts(prompt=5)).total_micro == 0
    assert book.price("Tiny", "nano", TokenCounts(prompt=15)).total_micro == 2
    assert book.price("Tiny", "nano", TokenCounts(prompt=25)).total_micro == 2


# --- built-in tables: cache rates, premium -----------------------------------


def test_cache_rates_fall_back_to_prompt(book: PriceBook) -> None:
    cost = book.price("openAI", "gpt-4.5-preview", TokenCounts(cache_write=10, cache_read=10))
    assert cost.value_key == "gpt-4.5"
    assert cost.line("cache_write").rate == cost.line("cache_read").rate == Decimal(75)


def test_explicit_cache_rates(book: PriceBook) -> None:
    cost = book.price("openAI", "gpt-4o", TokenCounts(cache_read=1000))
    assert cost.line("cache_read").rate == Decimal("1.25")
    assert cost.line("cache_read").credits == Decimal(1250)


def test_premium_threshold_is_strict(book: PriceBook) -> None:
    at = book.price("openAI", "gpt-5.4", TokenCounts(prompt=272_000, completion=10))
    above = book.price("openAI", "gpt-5.4", TokenCounts(prompt=272_001, completion=10))
    assert at.priced_by == "default"
    assert (at.line("prompt").rate, at.line("completion").rate) == (Decimal("2.5"), Decimal(15))
    assert above.priced_by == "premium"
    assert above.value_key == "gpt-5.4"
    assert (above.line("prompt").rate, above.line("completion").rate) == (
        Decimal(5),
        Decimal("22.5"),
    )


def test_cache_tokens_count_toward_premium_threshold(book: PriceBook) -> None:
    at = TokenCounts(prompt=100_000, cache_write=72_000, cache_read=100_000)
    above = TokenCounts(prompt=100_000, cache_write=72_000, cache_read=100_001)
    assert book.price("openAI", "gpt-5.4", at).priced_by == "default"
    cost = book.price("openAI", "gpt-5.4", above)
    assert cost.priced_by == "premium"
    # Explicit cache rates stay as they are under the premium tier.
    assert cost.line("cache_write").rate == Decimal("2.5")
    assert cost.line("cache_read").rate == Decimal("0.25")
    # Completion tokens are output: they never count toward the threshold.
    only_output = TokenCounts(prompt=272_000, completion=1_000_000)
    assert book.price("openAI", "gpt-5.4", only_output).priced_by == "default"


def test_premium_cache_fallback_follows_premium_prompt(book: PriceBook) -> None:
    below = book.price("openAI", "gpt-5.4-pro", TokenCounts(cache_read=272_000))
    above = book.price("openAI", "gpt-5.4-pro", TokenCounts(cache_read=272_001))
    assert below.line("cache_read").rate == Decimal(30)
    assert above.line("cache_read").rate == Decimal(60)
    assert above.total_micro == 272_001 * 60 * 1_000_000


def test_premium_applies_to_matched_key_of_versioned_name(book: PriceBook) -> None:
    cost = book.price("google", "gemini-3.1-pro-preview", TokenCounts(prompt=200_001))
    assert (cost.value_key, cost.priced_by) == ("gemini-3.1", "premium")
    # A longer key without a premium entry never gets one.
    lite = book.price("google", "gemini-3.1-flash-lite", TokenCounts(prompt=300_000))
    assert (lite.value_key, lite.priced_by) == ("gemini-3.1-flash-lite", "default")


# --- incomplete, fallback, free, errors --------------------------------------


def test_incomplete_floors_completion_to_whole_credits(book: PriceBook) -> None:
    # 7 tokens x 10 x 1.15 = 80.5 credits -> 80 (user's favour).
    cost = book.price("openAI", "gpt-4o", TokenCounts(prompt=3, completion=7), "incomplete")
    completion = cost.line("completion")
    assert completion.rate == Decimal("11.5")
    assert completion.credits == Decimal(80)
    assert cost.line("prompt").credits == Decimal("7.5")  # other lines are not floored
    assert cost.context == "incomplete"
    normal = book.price("openAI", "gpt-4o", TokenCounts(completion=7))
    assert normal.line("completion").credits == Decimal(70)


def test_incomplete_is_exact_decimal(book: PriceBook) -> None:
    # 100 x 15 x 1.15 is exactly 1725 (binary floats give 1724.999...).
    cost = book.price("anthropic", "claude-sonnet-4-5", TokenCounts(completion=100), "incomplete")
    assert cost.line("completion").credits == Decimal(1725)


def test_fallback_rate(book: PriceBook) -> None:
    tokens = TokenCounts(prompt=100, completion=100, cache_write=100, cache_read=100)
    cost = book.price("openAI", "my-local-model", tokens)
    assert (cost.priced_by, cost.value_key) == ("fallback", None)
    assert set(line_rates(cost).values()) == {Decimal(6)}
    assert cost.total_micro == 2400 * 1_000_000


def test_free_endpoint(book: PriceBook) -> None:
    cost = book.price("Local", "llama3", WORKED, "incomplete")
    assert (cost.priced_by, cost.value_key) == ("free", None)
    assert cost.total_micro == 0
    assert set(line_rates(cost).values()) == {Decimal(0)}
    assert book.price("Local", "gpt-5.4", TokenCounts(prompt=10**6)).priced_by == "free"


def test_unknown_endpoint(book: PriceBook) -> None:
    with pytest.raises(UnknownEndpoint) as info:
        book.price("NoSuchEndpoint", "gpt-4o", WORKED)
    assert info.value.extra["field"] == "endpoint"
    assert "NoSuchEndpoint" in info.value.detail
    with pytest.raises(UnknownEndpoint):
        book.is_priced("openai", "gpt-4o")  # endpoint names are case-sensitive


@pytest.mark.parametrize(
    ("tokens", "field"),
    [
        (TokenCounts(prompt=-1), "tokens.prompt"),
        (TokenCounts(cache_read=-5), "tokens.cache_read"),
        (TokenCounts(completion=1.5), "tokens.completion"),  # type: ignore[arg-type]
        (TokenCounts(cache_write=True), "tokens.cache_write"),
    ],
)
def test_bad_token_counts(book: PriceBook, tokens: TokenCounts, field: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        book.price("openAI", "gpt-4o", tokens)
    assert info.value.extra["field"] == field


# --- resolve / is_priced -----------------------------------------------------


def test_resolve(book: PriceBook) -> None:
    rates_, key, priced_by = book.resolve("openAI", "gpt-5.4", 300_000)
    assert (key, priced_by) == ("gpt-5.4", "premium")
    assert (rates_.prompt, rates_.completion, rates_.cache_read) == (
        Decimal(5),
        Decimal("22.5"),
        Decimal("0.25"),
    )
    assert book.resolve("openAI", "gpt-5.4")[2] == "default"


@pytest.mark.parametrize(
    ("endpoint", "model", "priced_by"),
    [
        ("Overrides", "gpt-4o", "token_config"),
        ("openAI", "gpt-5.4", "default"),
        ("openAI", "no-such-model", "fallback"),
        ("Local", "anything", "free"),
    ],
)
def test_is_priced(book: PriceBook, endpoint: str, model: str, priced_by: str) -> None:
    assert book.is_priced(endpoint, model) == priced_by


def test_default_config_prices_builtin_endpoints() -> None:
    book = PriceBook(default_config())
    for endpoint in ("openAI", "azureOpenAI", "google", "anthropic", "bedrock", "agents"):
        assert book.price(endpoint, "gpt-4o", TokenCounts(prompt=1)).priced_by == "default"
