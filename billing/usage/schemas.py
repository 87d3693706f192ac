"""Request and response bodies of the usage routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from billing.api.schemas import CostOut, Identifier, OptionalId, StrictModel, TokensIn
from billing.pricing.types import TokenCounts
from billing.reservations.schemas import SettlementOut
from billing.usage.normalize import Normalized, read_usage


class ProviderUsage(StrictModel):
    format: Literal["openai", "xai", "anthropic", "google", "bedrock"]
    usage: dict[str, Any]


_NO_TOKENS = (
    'send tokens (disjoint counts, e.g. {"prompt": 1000, "completion": 200}; {} for none) '
    'or provider_usage ({"format": "openai", "usage": <the provider\'s usage object>})'
)


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

    def normalized(self) -> Normalized:
        """Disjoint counts, from ``tokens`` or derived from the provider's usage object,
        with any warnings about the provider's numbers."""
        if self.provider_usage is not None:
            return read_usage(self.provider_usage.format, self.provider_usage.usage)
        return Normalized(self.tokens.to_counts() if self.tokens is not None else TokenCounts())

    def token_counts(self) -> TokenCounts:
        return self.normalized().counts


class QuoteRequest(_EventFields):
    event_id: OptionalId | None = None
    user_id: OptionalId | None = None


class UsageEventIn(_EventFields):
    event_id: Identifier = Field(description="idempotency key")
    user_id: Identifier
    reservation_id: OptionalId | None = Field(
        default=None, description="settles this reservation with the real cost"
    )

    @model_validator(mode="after")
    def _has_tokens(self) -> UsageEventIn:
        # Recorded usage without counts is a client bug, not 0 tokens (a quote
        # without them is fine: it shows the rates).
        if self.tokens is None and self.provider_usage is None:
            raise ValueError(_NO_TOKENS)
        return self


class UsageBatchIn(StrictModel):
    events: list[UsageEventIn]


class UsageWarningOut(StrictModel):
    code: str = Field(examples=["cached_exceeds_input"], description="stable code")
    field: str = Field(description="the field of the request it is about")
    message: str


class EventResult(StrictModel):
    event_id: str
    status: Literal["accepted", "duplicate"]
    cost: CostOut
    balance: str | None = Field(description="the user's balance in credits after this request")
    reservation: SettlementOut | None = Field(
        default=None, description="set when a newly accepted event named a reservation_id"
    )
    warnings: list[UsageWarningOut] | None = Field(
        default=None,
        description="present only when the event's usage was accepted with something odd "
        "in it (e.g. cached_exceeds_input: cached tokens above the input total)",
    )


class UsageResponse(StrictModel):
    accepted: int
    duplicates: int
    events: list[EventResult]
