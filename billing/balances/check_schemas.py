"""Bodies of the pre-flight check; the estimate shape is shared with reservations."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi.openapi.models import Example
from pydantic import BaseModel, Field

from billing import money
from billing.api.schemas import CostOut, Identifier, Money, StrictModel, TokenCount, TokensIn
from billing.balances.types import CheckResult
from billing.budgets.view import budget_json, utc_text
from billing.pricing.types import TokenCounts


class SpendEstimateIn(StrictModel):
    """What a model call may cost: its input tokens, optionally the completion cap."""

    endpoint: Identifier
    model: Identifier
    tokens: TokensIn = Field(default_factory=TokensIn)
    max_completion_tokens: TokenCount | None = Field(
        default=None, description="completion tokens to budget for (the request's max_tokens)"
    )
    role: Identifier | None = Field(
        default=None,
        description="the user's role (LibreChat's, e.g. USER): stored for the user, so the"
        " role's policy (billing.roles in the config) applies",
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


class BudgetOut(BaseModel):
    """A spend limit per calendar period, with the current period's spend."""

    limit_credits: Money
    period: Literal["day", "week", "month"]
    tz: str = Field(description="IANA time zone of the calendar periods")
    source: Literal["user", "role"] = Field(
        description="user: set for this user; role: the role's default (billing.roles)"
    )
    spent_credits: Money = Field(description="usage in the current period")
    remaining_credits: Money = Field(description="limit minus spent, at least 0")
    resets_at: datetime = Field(description="end of the current period (UTC)")


class CheckOut(BaseModel):
    user_id: str
    allowed: bool
    balance: Money
    reserved_credits: Money
    available_credits: Money
    cost: CostOut
    # Set only on a denial: LibreChat's token_balance violation, or the budget's.
    error: Literal["token_balance", "budget_exceeded"] | None = None
    prompt_tokens: int | None = Field(default=None, description="input tokens of the estimate")
    token_cost: Money | None = Field(default=None, description="estimated cost in credits")
    resets_at: datetime | None = Field(
        default=None, description="budget_exceeded: when the budget's period ends (UTC)"
    )
    budget: BudgetOut | None = Field(
        default=None, description="the user's budget (own or role's), when one applies"
    )


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
    its CostOut per request. The denial keys are left out of an allowed answer,
    the budget when none applies."""
    out: dict[str, Any] = {
        "user_id": result.user_id,
        "allowed": result.allowed,
        **credit_fields(result),
        "cost": result.cost.to_json(),
    }
    if result.budget is not None:
        out["budget"] = budget_json(result.budget)
    if not result.allowed:
        # The balance's denial first: waiting for the budget to reset would not help.
        out["error"] = "token_balance" if not result.balance_allowed else "budget_exceeded"
        out["prompt_tokens"] = result.input_tokens
        out["token_cost"] = money.credits_str(result.cost.total_micro)
        if result.budget is not None and not result.budget_allowed:
            out["resets_at"] = utc_text(result.budget.resets_at)
    return out
