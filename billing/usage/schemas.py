"""Request and response bodies of the usage routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from billing.api.schemas import CostOut, Identifier, OptionalId, StrictModel, TokensIn
from billing.pricing.types import TokenCounts
from billing.reservations.schemas import SettlementOut
from billing.usage.normalize import normalize_usage


class ProviderUsage(StrictModel):
    format: Literal["openai", "anthropic", "google", "bedrock"]
    usage: dict[str, Any]


class _EventFields(StrictModel):
    endpoint: Identifier
    model: Identifier
    context: Identifier = "message"
    conversation_id: OptionalId | None = None
    message_id: OptionalId | None = None
    occurred_at: datetime | None = None
    tokens: TokensIn | None = None
    provider_usage: ProviderUsage | None = None

    @model_validator(mode="after")
    def _one_token_source(self) -> _EventFields:
        if self.tokens is not None and self.provider_usage is not None:
            raise ValueError("send either tokens or provider_usage, not both")
        return self

    def token_counts(self) -> TokenCounts:
        """Disjoint counts, from ``tokens`` or derived from the provider's usage object."""
        if self.provider_usage is not None:
            return normalize_usage(self.provider_usage.format, self.provider_usage.usage)
        return self.tokens.to_counts() if self.tokens is not None else TokenCounts()


class QuoteRequest(_EventFields):
    event_id: OptionalId | None = None
    user_id: OptionalId | None = None


class UsageEventIn(_EventFields):
    event_id: Identifier = Field(description="idempotency key")
    user_id: Identifier
    reservation_id: OptionalId | None = Field(
        default=None, description="settles this reservation with the real cost"
    )


class UsageBatchIn(StrictModel):
    events: list[UsageEventIn]


class EventResult(StrictModel):
    event_id: str
    status: Literal["accepted", "duplicate"]
    cost: CostOut
    balance: str | None = Field(description="the user's balance in credits after this request")
    reservation: SettlementOut | None = Field(
        default=None, description="set when a newly accepted event named a reservation_id"
    )


class UsageResponse(StrictModel):
    accepted: int
    duplicates: int
    events: list[EventResult]
