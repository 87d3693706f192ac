"""Request and response bodies of the usage routes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from fastapi.openapi.models import Example
from pydantic import Discriminator, Field, Tag, ValidationInfo, model_validator

from billing import money
from billing.api.schemas import CostOut, Identifier, Money, OptionalId, StrictModel, TokensIn
from billing.errors import InvalidRequest
from billing.pricing.types import TokenCounts
from billing.reservations.schemas import SettlementOut
from billing.usage.normalize import Normalized, event_usage

if TYPE_CHECKING:
    from billing.usage.rows import PricedEvent
    from billing.usage.service import EventOutcome


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
        return event_usage(self.tokens, self.provider_usage)

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
    role: OptionalId | None = Field(
        default=None, description="the user's role (e.g. USER), stored for the user"
    )

    @model_validator(mode="after")
    def _has_tokens(self) -> UsageEventIn:
        # Recorded usage without counts is a client bug, not 0 tokens (a quote
        # without them is fine: it shows the rates).
        if self.tokens is None and self.provider_usage is None:
            raise ValueError(_NO_TOKENS)
        return self


# Validation context key: the most events a batch may hold (BILLING_MAX_BATCH_EVENTS).
MAX_EVENTS = "max_events"


class UsageBatchIn(StrictModel):
    # minItems is enforced by _counted, with the batch limit.
    events: list[UsageEventIn] = Field(json_schema_extra={"minItems": 1})

    @model_validator(mode="after")
    def _counted(self, info: ValidationInfo) -> UsageBatchIn:
        # Checked once every event is valid. Raised as is (pydantic passes on what
        # is not a ValueError): the answer names no field, as before.
        limit = (info.context or {}).get(MAX_EVENTS)
        if limit is not None and len(self.events) > limit:
            raise InvalidRequest(
                f"events: a batch holds at most {limit} events, got {len(self.events)}"
            )
        if not self.events:
            raise InvalidRequest("events: must not be empty")
        return self


def _shape(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "events" in value else "event"


# The body of POST /v1/usage: what validates it and what /openapi.json publishes.
# Errors carry the chosen tag first in their loc (see json_body.validated_body).
UsageRequest = Annotated[
    Annotated[UsageBatchIn, Tag("batch")] | Annotated[UsageEventIn, Tag("event")],
    Discriminator(_shape),
]


# Request examples for /openapi.json (Swagger UI's "Try it out"); built-in endpoints,
# so they work with any config. tests/docs posts each one to a fresh service.
_TOKENS = {"prompt": 1000, "completion": 200, "cache_write": 1000, "cache_read": 5000}
_EVENT = {
    "event_id": "msg-1001:1",
    "user_id": "alice",
    "endpoint": "anthropic",
    "model": "claude-sonnet-4-5",
    "context": "message",
    "conversation_id": "conv-1",
    "message_id": "msg-1001",
    "tokens": _TOKENS,
}
_OPENAI_USAGE = {
    "format": "openai",
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "prompt_tokens_details": {"cached_tokens": 1000},
    },
}
QUOTE_EXAMPLES: dict[str, Example] = {
    "tokens": {
        "summary": "disjoint token counts",
        "value": {"endpoint": "anthropic", "model": "claude-sonnet-4-5", "tokens": _TOKENS},
    },
    "provider_usage": {
        "summary": "the provider's raw usage object",
        "value": {"endpoint": "openAI", "model": "gpt-4o", "provider_usage": _OPENAI_USAGE},
    },
}
USAGE_EXAMPLES: dict[str, Example] = {
    "event": {"summary": "one event", "value": _EVENT},
    "batch": {
        "summary": "a batch (all or nothing)",
        "value": {
            "events": [
                {**_EVENT, "event_id": "msg-1002:1", "message_id": "msg-1002"},
                {
                    "event_id": "msg-1003:1",
                    "user_id": "bob",
                    "endpoint": "openAI",
                    "model": "gpt-4o",
                    "provider_usage": _OPENAI_USAGE,
                },
            ]
        },
    },
}


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


def usage_answer(outcomes: Sequence[EventOutcome]) -> dict[str, Any]:
    """The UsageResponse for recorded events, as JSON data for orjson (a cost given
    as text goes in as an orjson.Fragment).

    The only place outcomes become the answer. Building and re-validating
    EventResult and CostOut models would cost ~10x the encoding (per 1,000
    events ~5 ms against ~0.5 ms); ``o.cost`` already is the CostOut shape
    (Cost.to_json, or its JSON text as stored with the event, embedded as is), and
    tests/usage/test_contract.py checks every kind of outcome against the
    published schema instead.
    """
    balances = _balance_texts(outcomes)
    results: list[dict[str, Any]] = []
    accepted = 0
    for o in outcomes:
        fresh = o.status == "accepted"
        accepted += fresh
        result: dict[str, Any] = {
            "event_id": o.event_id,
            "status": "accepted" if fresh else "duplicate",
            "cost": orjson.Fragment(cost) if type(cost := o.cost) is str else cost,
            "balance": balances[o.balance_micro],
            "reservation": None
            if o.reservation is None
            else SettlementOut.of(o.reservation).model_dump(mode="json"),
        }
        if o.warnings:  # rare: the key is left out otherwise
            result["warnings"] = [w.to_json() for w in o.warnings]
        results.append(result)
    return {"accepted": accepted, "duplicates": len(results) - accepted, "events": results}


def _balance_texts(outcomes: Sequence[EventOutcome]) -> dict[int | None, str | None]:
    """Each balance as text, formatted once: a batch has far fewer users than events."""
    texts: dict[int | None, str | None] = {None: None}
    for micro in {o.balance_micro for o in outcomes}:
        if micro is not None:
            texts[micro] = money.credits_str(micro)
    return texts


# Prefer: return=minimal (RFC 7240) on POST /v1/usage: totals instead of every event.
PREFER_DESCRIPTION = (
    "`return=minimal` (RFC 7240): answer counts, the duplicate event ids and totals "
    "per user instead of every event's cost (UsageMinimalResponse; cheaper for big "
    "batches); the answer then carries `Preference-Applied: return=minimal`. "
    "Without it (or with `return=representation`) the full UsageResponse."
)


class UserTotalOut(StrictModel):
    user_id: str
    charged: Money = Field(
        description="credits charged for the user's events newly accepted by this request"
    )
    balance: str | None = Field(description="the user's balance in credits after this request")


class EventWarningOut(UsageWarningOut):
    event_id: str


class UsageMinimalResponse(StrictModel):
    """The answer to ``Prefer: return=minimal``."""

    accepted: int
    duplicates: int
    duplicate_event_ids: list[str] = Field(
        description="events already recorded with the same content (nothing charged again)"
    )
    users: list[UserTotalOut] = Field(description="one entry per user of the request")
    warnings: list[EventWarningOut] | None = Field(
        default=None, description="present only when an accepted event's usage had a warning"
    )


def usage_minimal_answer(
    priced: Sequence[PricedEvent], outcomes: Sequence[EventOutcome]
) -> dict[str, Any]:
    """The UsageMinimalResponse for recorded events (``outcomes[i]`` is ``priced[i]``'s)."""
    users = [item.event.user_id for item in priced]  # a duplicate's content is the same
    charged = dict.fromkeys(users, 0)
    duplicate_ids = []
    for user, item, o in zip(users, priced, outcomes, strict=True):
        if o.status == "accepted":
            charged[user] += item.cost.total_micro
        else:
            duplicate_ids.append(o.event_id)
    # The user's balance after the request (the same on each of its events that has one).
    balances = {
        u: o.balance_micro
        for u, o in zip(users, outcomes, strict=True)
        if o.balance_micro is not None
    }
    answer: dict[str, Any] = {
        "accepted": len(outcomes) - len(duplicate_ids),
        "duplicates": len(duplicate_ids),
        "duplicate_event_ids": duplicate_ids,
        "users": [
            {
                "user_id": user,
                "charged": money.credits_str(micro),
                "balance": None if balance is None else money.credits_str(balance),
            }
            for user, micro in charged.items()
            for balance in (balances.get(user),)
        ],
    }
    warnings = [{"event_id": o.event_id, **w.to_json()} for o in outcomes for w in o.warnings]
    if warnings:
        answer["warnings"] = warnings
    return answer


_FULL_EXAMPLE_EVENT = {
    "event_id": "msg-1001:1",
    "status": "accepted",
    "cost": {
        "endpoint": "anthropic",
        "model": "claude-sonnet-4-5",
        "value_key": "claude-sonnet-4-5",
        "priced_by": "default",
        "context": "message",
        "lines": {
            "prompt": {"tokens": 1000, "rate": "3", "credits": "3000"},
            "completion": {"tokens": 200, "rate": "15", "credits": "3000"},
            "cache_write": {"tokens": 0, "rate": "3.75", "credits": "0"},
            "cache_read": {"tokens": 0, "rate": "0.3", "credits": "0"},
        },
        "total_credits": "6000",
        "total_usd": "0.006",
    },
    "balance": "994000",
}
USAGE_ANSWER_EXAMPLES: dict[str, Example] = {
    "full": {
        "summary": "the default answer: every event",
        "value": {"accepted": 1, "duplicates": 0, "events": [_FULL_EXAMPLE_EVENT]},
    },
    "minimal": {
        "summary": "Prefer: return=minimal",
        "value": {
            "accepted": 999,
            "duplicates": 1,
            "duplicate_event_ids": ["msg-0990:1"],
            "users": [
                {"user_id": "alice", "charged": "1250400.5", "balance": "8749599.5"},
                {"user_id": "bob", "charged": "30000", "balance": "-30000"},
            ],
        },
    },
}
