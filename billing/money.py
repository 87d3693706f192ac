"""Exact money arithmetic.

Units: rates are USD per 1,000,000 tokens, which is the same number as credits
per token (1 USD = 1,000,000 credits). The ledger stores integer
*micro-credits* (1e-6 credit = 1e-12 USD).

Rounding rule (the only one): each priced ledger line is computed exactly as
``tokens * rate`` in Decimal and then rounded once to a whole micro-credit with
ROUND_HALF_EVEN. Totals are sums of already-rounded lines, so a total always
equals the sum of its ledger rows. The ``incomplete`` completion line is the
one exception LibreChat has: it is floored to whole credits (user's favour).
Binary floats never enter this module.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from functools import lru_cache, partial

MICRO_PER_CREDIT = 1_000_000
CREDITS_PER_USD = 1_000_000
# Enough digits for any amount we accept (token counts and rates are bounded).
_CTX = Context(prec=60)
_MICRO = Decimal(MICRO_PER_CREDIT)
_ONE = Decimal(1)


class MoneyError(ValueError):
    """A value that cannot be an exact amount (float, NaN, infinity, junk)."""


def to_decimal(value: object) -> Decimal:
    """Parse an exact decimal from str/int/Decimal; floats are refused."""
    if isinstance(value, bool):
        raise MoneyError("a boolean is not a number")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation as exc:
            raise MoneyError(f"{value!r} is not a decimal number") from exc
    else:
        raise MoneyError(f"{type(value).__name__} is not an exact decimal")
    if not result.is_finite():
        raise MoneyError("NaN and infinity are not amounts")
    return result


def micro_from_credits(credits: Decimal) -> int:
    """Round a credit amount to whole micro-credits (ROUND_HALF_EVEN)."""
    return int((credits * _MICRO).quantize(_ONE, rounding=ROUND_HALF_EVEN, context=_CTX))


def line_micro(tokens: int, rate: Decimal) -> int:
    """Micro-credits for ``tokens`` at ``rate`` credits per token, rounded once."""
    return micro_from_credits(Decimal(tokens) * rate)


def floor_credits_micro(credits: Decimal) -> int:
    """Floor to whole credits, then express in micro-credits."""
    return int(credits.to_integral_value(rounding=ROUND_FLOOR)) * MICRO_PER_CREDIT


def credits_from_micro(micro: int) -> Decimal:
    return Decimal(micro).scaleb(-6, context=_CTX)


def usd_from_micro(micro: int) -> Decimal:
    return Decimal(micro).scaleb(-12, context=_CTX)


def format_decimal(value: Decimal) -> str:
    """Plain decimal string without exponent or trailing zeros: '11250', '0.01125'."""
    if value == 0:
        return "0"
    text = format(value.normalize(context=_CTX), "f")
    return text


def _scaled_str(digits: int, units: int) -> str:
    """``format_decimal(units * 10**-digits)`` in integer arithmetic (hot: every response).

    Slices the integer's digits: ~1/3 cheaper than divmod and %-formatting."""
    if units < 0:
        return "-" + _scaled_str(digits, -units)
    text = str(units)
    if len(text) <= digits:
        fraction = text.rjust(digits, "0").rstrip("0")
        return f"0.{fraction}" if fraction else "0"
    fraction = text[-digits:].rstrip("0")
    return f"{text[:-digits]}.{fraction}" if fraction else text[:-digits]


# Partials, not wrapper functions: one Python call per amount, not two (several
# amounts per event on the ingest path).
credits_str: Callable[[int], str] = partial(_scaled_str, 6)
credits_str.__doc__ = "Micro-credits as a credits decimal string: 1500 -> '0.0015'."
usd_str: Callable[[int], str] = partial(_scaled_str, 12)
usd_str.__doc__ = "Micro-credits as a USD decimal string (1 USD = 10**12 micro-credits)."


@lru_cache(maxsize=4096)
def rate_str(rate: Decimal) -> str:
    """``format_decimal`` of a rate; a config has few distinct rates, so it is cached."""
    return format_decimal(rate)
