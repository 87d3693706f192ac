"""A budget as the API shows it (check answers, the budget routes, 402 bodies)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billing import money
from billing.budgets.types import BudgetState


def utc_text(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def budget_json(current: BudgetState) -> dict[str, Any]:
    budget = current.budget
    return {
        "limit_credits": money.credits_str(budget.limit_micro),
        "period": budget.period,
        "tz": budget.tz,
        "source": budget.source,
        "spent_credits": money.credits_str(current.spent_micro),
        "remaining_credits": money.credits_str(current.remaining_micro),
        "resets_at": utc_text(current.resets_at),
    }
