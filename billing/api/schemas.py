"""Shared request/response shapes (money is always a decimal string)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StrictInt, WithJsonSchema

from billing.pricing.types import TokenCounts

# Bounded so that tokens x rate always fits the 64-bit micro-credit ledger.
MAX_TOKENS = 1_000_000_000
TokenCount = Annotated[StrictInt, Field(ge=0, le=MAX_TOKENS)]
# Ids: printable, no control characters, bounded.
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
OPTIONAL_ID_PATTERN = r"^[^\x00-\x1f\x7f]*$"
MONEY_PATTERN = r"^-?\d+(\.\d+)?$"
CURSOR_PATTERN = r"^\d{1,19}$"
# What a value failing each pattern is told (billing/api/errors.py): people do not read regexes.
PATTERN_MESSAGES = {
    ID_PATTERN: "must not contain control characters",
    OPTIONAL_ID_PATTERN: "must not contain control characters",
    MONEY_PATTERN: 'must be a decimal number such as "12.5" (no exponent, no spaces)',
    CURSOR_PATTERN: "must be the next_cursor of the previous page",
}
Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=ID_PATTERN)]
OptionalId = Annotated[str, Field(max_length=200, pattern=OPTIONAL_ID_PATTERN)]
Money = Annotated[str, Field(pattern=MONEY_PATTERN, examples=["11250", "0.01125"])]

MONEY_MAX_DIGITS = 40
_MONEY_TEXT = re.compile(MONEY_PATTERN)
_MONEY_FORMS = 'a decimal string such as "-12.5" or a JSON number such as -12.5'


def _exact_money(value: object) -> Decimal:
    """A money input: a decimal string, or a JSON number the body parser kept exact.

    JSON numbers arrive as int or Decimal (billing/api/json_body.py parses them
    from the source text); a float would mean a lossy parse, so it is refused.
    """
    if isinstance(value, str):
        if len(value) > MONEY_MAX_DIGITS or not _MONEY_TEXT.match(value):
            raise ValueError(f"must be {_MONEY_FORMS}")
        return Decimal(value)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError(f"must be {_MONEY_FORMS}")
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"must be a finite number: {_MONEY_FORMS}")
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if number.adjusted() >= MONEY_MAX_DIGITS or exponent <= -MONEY_MAX_DIGITS:
        raise ValueError(f"has too many digits (at most {MONEY_MAX_DIGITS})")
    return number


# Input amounts (grants, balances): exact Decimal, from either JSON form.
MoneyIn = Annotated[
    Decimal,
    PlainValidator(_exact_money),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": MONEY_PATTERN, "maxLength": MONEY_MAX_DIGITS},
                {"type": "number"},
            ],
            "examples": ["-12.5", 1000],
        }
    ),
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokensIn(StrictModel):
    """Disjoint token counts; missing counts are 0."""

    prompt: TokenCount = 0
    completion: TokenCount = 0
    cache_write: TokenCount = 0
    cache_read: TokenCount = 0
    cache_write_1h: TokenCount = Field(
        default=0, description="1-hour cache writes (Anthropic), not counted in cache_write"
    )

    def to_counts(self) -> TokenCounts:
        return TokenCounts(
            self.prompt, self.completion, self.cache_write, self.cache_read, self.cache_write_1h
        )


class CostLineOut(BaseModel):
    tokens: int
    rate: Money
    credits: Money


class CostOut(BaseModel):
    endpoint: str
    model: str
    value_key: str | None
    priced_by: str
    context: str
    lines: dict[str, CostLineOut] = Field(
        description="prompt, completion, cache_write (5-minute), cache_read; plus "
        "cache_write_1h (Anthropic's 1-hour cache writes, by default at 2x the prompt "
        "rate) only when the event has some"
    )
    total_credits: Money
    total_usd: Money
