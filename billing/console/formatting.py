"""How the console writes money, tokens and times (template filters).

Credits are shown exactly (the ledger's value, digits grouped); the display
currency (``interface.currency``) is converted exactly and then rounded to
cents for reading only, never for anything stored or summed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from billing import money
from billing.reports.money_view import DisplayCurrency

_CENT = Decimal("0.01")


def credits(micro: int) -> str:
    text = money.credits_str(micro)
    sign = "-" if text.startswith("-") else ""
    whole, dot, fraction = text.lstrip("-").partition(".")
    return f"{sign}{int(whole):,}{dot}{fraction}"


def currency_amount(micro: int, currency: DisplayCurrency) -> str:
    exact = money.usd_from_micro(micro) * currency.rate
    shown = exact.quantize(_CENT, rounding=ROUND_HALF_EVEN)
    if shown == 0 and exact != 0:
        return f"{'-' if exact < 0 else ''}< 0.01 {currency.code}"
    return f"{shown:,} {currency.code}"


def tokens(count: int | None) -> str:
    return "" if count is None else f"{count:,}"


def when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat()
