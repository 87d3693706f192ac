"""A budget's state as the services return it: plain values, no database (the
check's result carries one, and importing a schema must not load a repository)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
