"""The budget rule: a call may not take the period's spend plus active holds above the limit.

Usage is never refused (it already happened); it counts toward the period it
occurred in. Checks, reservations and the gateway ask ``fits`` before holding
or allowing more; reservations do so under the balance row lock, so
concurrent holds against one budget are serialised like those against a balance.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from billing.budgets import periods
from billing.budgets import repository as repo
from billing.budgets.types import BudgetState
from billing.users.profile import Budget


def state(session: Session, user_id: str, budget: Budget, now: datetime) -> BudgetState:
    """The budget's current period and the user's spend in it (one indexed query)."""
    start, end = periods.window(budget.period, budget.tz, now)
    return BudgetState(budget, start, end, repo.spent_micro(session, user_id, start, end))
