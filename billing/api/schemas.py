"""Shared request/response shapes (money is always a decimal string)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from billing.pricing.types import TokenCounts

# Bounded so that tokens x rate always fits the 64-bit micro-credit ledger.
MAX_TOKENS = 1_000_000_000
TokenCount = Annotated[StrictInt, Field(ge=0, le=MAX_TOKENS)]
# Ids: printable, no control characters, bounded.
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=ID_PATTERN)]
OptionalId = Annotated[str, Field(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
Money = Annotated[str, Field(pattern=r"^-?\d+(\.\d+)?$", examples=["11250", "0.01125"])]


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
