"""Bodies of the /v1/users routes (role and budget)."""

from __future__ import annotations

from typing import Literal

from fastapi.openapi.models import Example
from pydantic import BaseModel, Field

from billing.api.schemas import Identifier, MoneyIn, StrictModel
from billing.balances.check_schemas import BudgetOut

BudgetPeriodIn = Literal["day", "week", "month"]


class RoleIn(StrictModel):
    role: Identifier | None = Field(
        default=None,
        description="the user's role, as LibreChat names it (e.g. USER, ADMIN); null removes it",
    )


class BudgetIn(StrictModel):
    limit_credits: MoneyIn = Field(description="most the user may spend per period, in credits")
    period: BudgetPeriodIn = Field(description="calendar day, ISO week (from Monday) or month")
    tz: str | None = Field(
        default=None,
        max_length=64,
        description="IANA time zone of the calendar periods (default UTC), e.g. Europe/Berlin",
    )


class UserBudgetOut(BudgetOut):
    user_id: str


class UserOut(BaseModel):
    user_id: str
    role: str | None = Field(description="the user's role, if any")
    budget: BudgetOut | None = Field(
        description="the budget in force (own, else the role's default), if any"
    )


ROLE_EXAMPLES: dict[str, Example] = {
    "role": {"summary": "the user's LibreChat role", "value": {"role": "USER"}},
    "none": {"summary": "remove the role", "value": {"role": None}},
}
BUDGET_EXAMPLES: dict[str, Example] = {
    "monthly": {
        "summary": "50,000 credits per calendar month in Berlin",
        "value": {"limit_credits": "50000", "period": "month", "tz": "Europe/Berlin"},
    },
    "daily": {
        "summary": "2,000 credits per UTC day",
        "value": {"limit_credits": "2000", "period": "day"},
    },
}
