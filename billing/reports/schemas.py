"""Shapes of the cost reports (money as decimal strings)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from billing.api.schemas import Money


class TokensByType(BaseModel):
    prompt: int = 0
    completion: int = 0
    cache_write: int = Field(
        default=0, description="cache writes of either TTL (5 minutes, 1 hour)"
    )
    cache_read: int = 0


class Spend(BaseModel):
    tokens: int = Field(description="all token types together")
    tokens_by_type: TokensByType
    credits: Money
    usd: Money
    amount: Money = Field(description="the cost in the response's display currency")


class CostRow(Spend):
    key: dict[str, str | None] = Field(
        description="the value of each group_by dimension; day is 'YYYY-MM-DD' and hour is "
        "ISO 8601 with the zone's offset, both in the requested tz",
        examples=[{"day": "2026-11-21", "model": "gpt-4o"}],
    )


class CostsOut(BaseModel):
    from_: datetime | None = Field(serialization_alias="from")
    to: datetime | None
    tz: str
    group_by: list[str]
    currency: str = Field(description="display currency of `amount`: USD or interface.currency")
    currency_rate: Money = Field(description="display units per USD")
    rows: list[CostRow]
    total: Spend
    truncated: bool = Field(description="true when more groups matched than `limit`")


class ConversationEventOut(Spend):
    event_id: str | None
    endpoint: str | None
    model: str | None
    context: str | None
    value_key: str | None
    priced_by: str | None
    occurred_at: datetime
    voided: bool = Field(
        default=False, description="voided (POST /v1/usage/{event_id}/void): its spend is 0"
    )


class ConversationMessageOut(Spend):
    message_id: str | None
    endpoint: str | None = Field(description="of the message's first event")
    model: str | None = Field(description="of the message's first event")
    occurred_at: datetime
    events: list[ConversationEventOut]


class ConversationCostOut(BaseModel):
    conversation_id: str
    user_ids: list[str]
    currency: str
    currency_rate: Money
    messages: list[ConversationMessageOut]
    total: Spend
