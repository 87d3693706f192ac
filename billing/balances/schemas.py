"""Request and response bodies of the balance and transaction routes."""

from __future__ import annotations

from datetime import datetime

from fastapi.openapi.models import Example
from pydantic import BaseModel, Field

from billing.api.schemas import Money, MoneyIn, OptionalId, StrictModel


class AutoRefillOut(BaseModel):
    enabled: bool
    interval_value: int
    interval_unit: str
    amount: Money
    last_refill_at: datetime | None
    next_refill_at: datetime | None


class BalanceOut(BaseModel):
    user_id: str
    credits: Money
    usd: Money
    reserved_credits: Money
    available_credits: Money
    auto_refill: AutoRefillOut


class BalancePage(BaseModel):
    balances: list[BalanceOut]
    next_cursor: str | None


class GrantIn(StrictModel):
    amount: MoneyIn = Field(description="credits; negative to deduct")
    reason: str | None = Field(default=None, max_length=500)
    idempotency_key: OptionalId | None = None


class SetBalanceIn(StrictModel):
    credits: MoneyIn = Field(description="the new balance in credits")
    reason: str | None = Field(default=None, max_length=500)


GRANT_EXAMPLES: dict[str, Example] = {
    "grant": {
        "summary": "grant 5,000 credits once",
        "value": {"amount": "5000", "reason": "welcome bonus", "idempotency_key": "bonus-alice-1"},
    },
    "deduct": {
        "summary": "deduct 500 credits",
        "value": {"amount": "-500", "reason": "correction"},
    },
}
SET_BALANCE_EXAMPLES: dict[str, Example] = {
    "set": {"summary": "set to 20,000 credits", "value": {"credits": "20000", "reason": "reset"}}
}


class TransactionOut(BaseModel):
    id: int
    user_id: str
    kind: str
    token_type: str | None
    tokens: int | None
    rate: Money | None
    credits: Money
    usd: Money
    value_key: str | None
    priced_by: str | None
    context: str | None
    endpoint: str | None
    model: str | None
    conversation_id: str | None
    message_id: str | None
    event_id: str | None
    reason: str | None
    created_at: datetime


class TransactionPage(BaseModel):
    transactions: list[TransactionOut]
    next_cursor: str | None
