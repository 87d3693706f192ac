"""What the balance services return to their callers (HTTP routes and CLI commands).

Plain values, no database: the schemas map them (``BalanceOut.of``,
``TransactionOut.of``, ``check_answer``), and importing a schema must not load
the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billing.budgets.types import BudgetState
from billing.pricing.types import Cost


@dataclass(frozen=True, slots=True)
class BalanceView:
    """A user's balance as a client sees it: with the credit active holds take."""

    user_id: str
    amount_micro: int
    reserved_micro: int  # active, unexpired reservations (not part of the balance)
    auto_refill_enabled: bool
    refill_interval_value: int
    refill_interval_unit: str
    refill_amount_micro: int
    last_refill_at: datetime | None
    next_refill_at: datetime | None

    @property
    def available_micro(self) -> int:
        return self.amount_micro - self.reserved_micro


@dataclass(frozen=True, slots=True)
class Grant:
    balance: BalanceView
    applied: bool  # False: the idempotency key was applied before, nothing changed


@dataclass(frozen=True, slots=True)
class Transaction:
    """One ledger row."""

    id: int
    user_id: str
    kind: str
    token_type: str | None
    tokens: int | None
    rate: str | None  # exact decimal text
    amount_micro: int
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


@dataclass(frozen=True, slots=True)
class TransactionFilter:
    """Which ledger rows to list (all given conditions hold), newest first."""

    user_id: str | None = None
    conversation_id: str | None = None
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A pre-flight check's answer: may the user spend the estimated cost (within
    the balance and, when one applies, the budget)?"""

    user_id: str
    allowed: bool
    balance_micro: int
    reserved_micro: int
    cost: Cost
    budget: BudgetState | None = None  # set when a budget applies to the user
    balance_allowed: bool = True  # the balance alone would allow the call

    @property
    def budget_allowed(self) -> bool:
        return self.budget is None or self.budget.fits(self.reserved_micro, self.cost.total_micro)

    @property
    def available_micro(self) -> int:
        return self.balance_micro - self.reserved_micro

    @property
    def input_tokens(self) -> int:
        return sum(line.tokens for line in self.cost.lines if line.token_type != "completion")
