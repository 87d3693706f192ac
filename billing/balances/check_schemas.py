"""Bodies of the pre-flight check; the estimate shape is shared with reservations."""

from __future__ import annotations

from typing import Any, Literal

from fastapi.openapi.models import Example
from pydantic import BaseModel, Field

from billing import money
from billing.api.schemas import CostOut, Identifier, Money, StrictModel, TokenCount, TokensIn
from billing.balances.types import CheckResult
from billing.pricing.types import TokenCounts


class SpendEstimateIn(StrictModel):
    """What a model call may cost: its input tokens, optionally the completion cap."""

    endpoint: Identifier
    model: Identifier
    tokens: TokensIn = Field(default_factory=TokensIn)
    max_completion_tokens: TokenCount | None = Field(
        default=None, description="completion tokens to budget for (the request's max_tokens)"
    )

    def estimate_counts(self) -> TokenCounts:
        """Counts to price: completion is the larger of tokens.completion and the cap."""
        counts = self.tokens.to_counts()
        completion = max(counts.completion, self.max_completion_tokens or 0)
        return TokenCounts(
            counts.prompt, completion, counts.cache_write, counts.cache_read, counts.cache_write_1h
        )


# Request example for /openapi.json (built-in endpoint: valid with any config).
ESTIMATE_EXAMPLE = {
    "endpoint": "anthropic",
    "model": "claude-sonnet-4-5",
    "tokens": {"prompt": 1000},
    "max_completion_tokens": 1000,
}
CHECK_EXAMPLES: dict[str, Example] = {
    "estimate": {
        "summary": "1,000 prompt tokens, up to 1,000 completion tokens",
        "value": ESTIMATE_EXAMPLE,
    }
}


class CheckOut(BaseModel):
    user_id: str
    allowed: bool
    balance: Money
    reserved_credits: Money
    available_credits: Money
    cost: CostOut
    # Set only on a denial (LibreChat's token_balance violation).
    error: Literal["token_balance"] | None = None
    prompt_tokens: int | None = Field(default=None, description="input tokens of the estimate")
    token_cost: Money | None = Field(default=None, description="estimated cost in credits")


def credit_fields(result: CheckResult) -> dict[str, str]:
    """The balance, the holds and what is left: in a check's answer and in the
    body of a reservation refused with insufficient_balance."""
    return {
        "balance": money.credits_str(result.balance_micro),
        "reserved_credits": money.credits_str(result.reserved_micro),
        "available_credits": money.credits_str(result.available_micro),
    }


def check_answer(result: CheckResult) -> dict[str, Any]:
    """A check's answer: CheckOut's JSON, built as plain data and encoded once by
    the (hot) route, as POST /v1/usage does, instead of validating a CheckOut and
    its CostOut per request. The denial keys are left out of an allowed answer."""
    out: dict[str, Any] = {
        "user_id": result.user_id,
        "allowed": result.allowed,
        **credit_fields(result),
        "cost": result.cost.to_json(),
    }
    if not result.allowed:
        out["error"] = "token_balance"
        out["prompt_tokens"] = result.input_tokens
        out["token_cost"] = money.credits_str(result.cost.total_micro)
    return out
