"""Properties of the engine over random token counts and rates."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing import money
from billing.config.model import default_config
from billing.pricing.engine import PriceBook
from billing.pricing.tables import load_default_tables
from billing.pricing.types import TokenCounts
from tests.pricing.factories import config_with, custom, rates

BOOK = PriceBook(default_config())
MODELS = [*list(load_default_tables().token_values)[:60], "gpt-5.4-pro", "unknown-x"]
CONTEXTS = st.sampled_from(["message", "incomplete", "title"])
COUNT = st.integers(min_value=0, max_value=2_000_000)
TOKENS = st.builds(TokenCounts, COUNT, COUNT, COUNT, COUNT)
# Rates with up to 9 decimals: some are whole micro-credits per token, some not.
RATE = st.decimals(min_value=0, max_value=1000, places=9, allow_nan=False, allow_infinity=False)

FAST = settings(max_examples=150, deadline=None)


def _each(n: int) -> TokenCounts:
    return TokenCounts(prompt=n, completion=n, cache_write=n, cache_read=n)


@FAST
@given(st.sampled_from(MODELS), TOKENS, CONTEXTS)
def test_cost_never_negative(model: str, tokens: TokenCounts, context: str) -> None:
    cost = BOOK.price("openAI", model, tokens, context)
    assert all(line.micro >= 0 for line in cost.lines)
    assert cost.total_micro == sum(line.micro for line in cost.lines)


@FAST
@given(st.sampled_from(MODELS), COUNT, COUNT)
def test_additive_over_tokens(model: str, a: int, b: int) -> None:
    # Every built-in rate is a whole number of micro-credits per token, so no
    # line is rounded and prices add up exactly (below any premium threshold).
    first, second = BOOK.price("openAI", model, _each(a)), BOOK.price("openAI", model, _each(b))
    both = BOOK.price("openAI", model, _each(a + b))
    if first.priced_by == second.priced_by == both.priced_by:
        assert both.total_micro == first.total_micro + second.total_micro


@FAST
@given(st.sampled_from(MODELS), TOKENS)
def test_line_is_tokens_times_rate_exactly(model: str, tokens: TokenCounts) -> None:
    for line in BOOK.price("openAI", model, tokens).lines:
        assert line.credits == Decimal(line.tokens) * line.rate


@FAST
@given(RATE, RATE, RATE, RATE, TOKENS, CONTEXTS)
def test_any_rate_matches_money_rules(
    p: Decimal, c: Decimal, r: Decimal, w: Decimal, tokens: TokenCounts, context: str
) -> None:
    entry = rates(str(p), str(c), cache_read=str(r), cache_write=str(w))
    book = PriceBook(config_with(custom("E", {"m": entry})))
    cost = book.price("E", "m", tokens, context)
    expected = {
        "prompt": money.line_micro(tokens.prompt, p),
        "completion": money.line_micro(tokens.completion, c),
        "cache_write": money.line_micro(tokens.cache_write, w),
        "cache_read": money.line_micro(tokens.cache_read, r),
    }
    if context == "incomplete":
        credits = Decimal(tokens.completion) * c * Decimal("1.15")
        expected["completion"] = money.floor_credits_micro(credits)
    assert {line.token_type: line.micro for line in cost.lines} == expected
    if context != "incomplete":
        whole = {line.token_type for line in cost.lines if (line.rate * 10**6) % 1 == 0}
        for line in cost.lines:
            if line.token_type in whole:
                assert line.credits == Decimal(line.tokens) * line.rate
