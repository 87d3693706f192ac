"""The integer fast path of money strings equals the Decimal definition, to the digit."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing import money

EDGES = [0, 1, -1, 10, 999_999, 1_000_000, -1_000_000, 1_000_001, 10**12, -(10**12) + 1, 10**18]


def _reference(value: Decimal) -> str:
    return money.format_decimal(value)


@given(st.one_of(st.sampled_from(EDGES), st.integers(-(10**19), 10**19)))
def test_credits_and_usd_strings_match_decimal_formatting(micro: int) -> None:
    assert money.credits_str(micro) == _reference(money.credits_from_micro(micro))
    assert money.usd_str(micro) == _reference(money.usd_from_micro(micro))


def test_known_values() -> None:
    assert money.credits_str(11_250_000_000) == "11250"
    assert money.usd_str(11_250_000_000) == "0.01125"
    assert money.credits_str(-1_500) == "-0.0015"
    assert money.credits_str(0) == "0"


@given(st.decimals(min_value=0, max_value=1000, places=6, allow_nan=False))
def test_cached_rate_string_equals_formatting(rate: Decimal) -> None:
    assert money.rate_str(rate) == money.format_decimal(rate)
