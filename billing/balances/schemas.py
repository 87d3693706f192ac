"""Request and response bodies of the balance and transaction routes."""

from __future__ import annotations

from datetime import datetime

from fastapi.openapi.models import Example
from pydantic import BaseModel, Field

from billing import money
from billing.api.schemas import Money, MoneyIn, OptionalId, StrictModel
from billing.balances.types import BalanceView, Transaction


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

    @classmethod
    def of(cls, view: BalanceView) -> BalanceOut:
        """The one mapping of a balance: the routes answer it, the CLI shows it."""
        return cls(
            user_id=view.user_id,
            credits=money.credits_str(view.amount_micro),
            usd=money.usd_str(view.amount_micro),
            reserved_credits=money.credits_str(view.reserved_micro),
            available_credits=money.credits_str(view.available_micro),
            auto_refill=AutoRefillOut(
                enabled=view.auto_refill_enabled,
                interval_value=view.refill_interval_value,
                interval_unit=view.refill_interval_unit,
                amount=money.credits_str(view.refill_amount_micro),
                last_refill_at=view.last_refill_at,
                next_refill_at=view.next_refill_at,
            ),
        )


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

    @classmethod
    def of(cls, tx: Transaction) -> TransactionOut:
        """The one mapping of a ledger row: GET /v1/transactions and `billing transactions`."""
        return cls(
            id=tx.id,
            user_id=tx.user_id,
            kind=tx.kind,
            token_type=tx.token_type,
            tokens=tx.tokens,
            rate=tx.rate,
            credits=money.credits_str(tx.amount_micro),
            usd=money.usd_str(tx.amount_micro),
            value_key=tx.value_key,
            priced_by=tx.priced_by,
            context=tx.context,
            endpoint=tx.endpoint,
            model=tx.model,
            conversation_id=tx.conversation_id,
            message_id=tx.message_id,
            event_id=tx.event_id,
            reason=tx.reason,
            created_at=tx.created_at,
        )


class TransactionPage(BaseModel):
    transactions: list[TransactionOut]
    next_cursor: str | None
