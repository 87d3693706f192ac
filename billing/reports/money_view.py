"""Spend totals and their display in credits, USD and the display currency.

The ledger stays in micro-credits; the display currency (``interface.currency``:
code and units per USD) is applied only here, exactly (no rounding: a product
of two finite decimals is finite).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from billing import money
from billing.config.model import CurrencyConfig
from billing.errors import InvalidRequest
from billing.pricing.types import TOKEN_TYPES
from billing.reports.schemas import Spend, TokensByType
from billing.reports.spend import REPORT_INDEX

USD = "USD"


@dataclass(frozen=True, slots=True)
class DisplayCurrency:
    code: str
    rate: Decimal  # units per USD

    def amount(self, micro: int) -> str:
        return money.format_decimal(money.usd_from_micro(micro) * self.rate)


def display_currency(configured: CurrencyConfig, requested: str | None) -> DisplayCurrency:
    """USD or the configured code; the configured one by default."""
    code = (requested or configured.code).upper()
    if code == USD:
        return DisplayCurrency(USD, Decimal(1))
    if code == configured.code.upper():
        return DisplayCurrency(configured.code.upper(), configured.rate)
    allowed = USD if configured.code.upper() == USD else f"USD or {configured.code.upper()}"
    raise InvalidRequest(
        f"currency: {requested!r} is not available (use {allowed})", field="currency"
    )


@dataclass(slots=True)
class Tally:
    """Running sum of tokens (per type, TOKEN_TYPES order) and cost in micro-credits."""

    cost_micro: int = 0
    tokens: list[int] = field(default_factory=lambda: [0] * len(TOKEN_TYPES))

    def add(self, tokens: Sequence[int], cost_micro: int) -> None:
        self.cost_micro += cost_micro
        mine = self.tokens
        for index, count in enumerate(tokens):
            mine[index] += count

    def add_line(self, token_type: str | None, tokens: int, cost_micro: int) -> None:
        self.cost_micro += cost_micro
        if token_type in REPORT_INDEX:
            self.tokens[REPORT_INDEX[token_type]] += tokens

    def merge(self, other: Tally) -> None:
        self.add(other.tokens, other.cost_micro)

    def spend(self, currency: DisplayCurrency) -> dict[str, Any]:
        return {
            "tokens": sum(self.tokens),
            "tokens_by_type": TokensByType(**dict(zip(TOKEN_TYPES, self.tokens, strict=True))),
            "credits": money.credits_str(self.cost_micro),
            "usd": money.usd_str(self.cost_micro),
            "amount": currency.amount(self.cost_micro),
        }

    def to_spend(self, currency: DisplayCurrency) -> Spend:
        return Spend.model_validate(self.spend(currency))
