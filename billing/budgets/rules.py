"""The budget rule: a call may not take the period's spend plus active holds above the limit.

Usage is never refused (it already happened); it counts toward the period it
occurred in. Checks, reservations and the gateway ask ``fits`` before holding
or allowing more; reservations do so under the balance row lock, so
concurrent holds against one budget are serialised like those against a balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from billing.budgets import periods
from billing.budgets import repository as repo
from billing.users.profile import Budget


@dataclass(frozen=True, slots=True)
class BudgetState:
    """A budget in the period holding ``now``, with what was spent in it."""

    budget: Budget
    period_start: datetime
    resets_at: datetime  # end of the period (UTC)
    spent_micro: int

    @property
    def remaining_micro(self) -> int:
        return max(self.budget.limit_micro - self.spent_micro, 0)

    def fits(self, held_micro: int, cost_micro: int) -> bool:
        """May a call costing ``cost_micro`` go ahead, with ``held_micro`` already held?"""
        return self.spent_micro + held_micro + cost_micro <= self.budget.limit_micro


def state(session: Session, user_id: str, budget: Budget, now: datetime) -> BudgetState:
    """The budget's current period and the user's spend in it (one indexed query)."""
    start, end = periods.window(budget.period, budget.tz, now)
    return BudgetState(budget, start, end, repo.spent_micro(session, user_id, start, end))
