"""Pre-flight check: may this user spend the estimated cost of a call?

LibreChat semantics (due auto-refill first, a new user gets startBalance,
allowed when the cost fits), except that active reservations are subtracted:
"fits" means cost <= balance - active unexpired holds. A user with a budget
(their own or their role's) must also stay within it: the period's spend plus
active holds plus the cost at most the limit (billing/budgets/rules.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from billing.balances import repository as balance_repo
from billing.balances.check_schemas import SpendEstimateIn
from billing.balances.roles import assign_roles, roles_differ
from billing.balances.service import refill_pending, touch_users
from billing.budgets.rules import BudgetState
from billing.budgets.rules import state as budget_state
from billing.config.model import AppConfig
from billing.pricing.engine import PriceBook
from billing.pricing.types import Cost
from billing.runtime import ConfigSnapshot
from billing.users import repository as users_repo
from billing.users.profile import Profile, effective_budget


@dataclass(frozen=True, slots=True)
class CheckResult:
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


def estimate_cost(prices: PriceBook, request: SpendEstimateIn) -> Cost:
    return prices.price(request.endpoint, request.model, request.estimate_counts())


def checks_without_writing(
    session: Session,
    snapshot: ConfigSnapshot,
    requests: list[tuple[str, Cost, str | None]],
    now: datetime,
) -> list[CheckResult | None]:
    """Several checks (user_id, estimated cost, role sent) answered by one unlocked read.

    The common case, a known user with no refill due, needs nothing else (a
    user with a budget: one more indexed read, the period's spend).
    None for a check that needs a write first (a new user gets startBalance,
    a due refill is applied, a new role is stored): ``check_spend`` does
    those under the row lock.
    Reading without the lock is as good as with it for a check, which only
    reads; reservations are what hold credit against concurrent spending.
    """
    config = snapshot.config
    found = balance_repo.balances_and_holds(session, (request[0] for request in requests), now)
    results: list[CheckResult | None] = []
    for user_id, cost, role in requests:
        seen = found.get(user_id)
        if role is not None and (seen is None or roles_differ(_role(seen[2]), role)):
            results.append(None)
        elif seen is None:
            # No balance row, so no profile either (setting one creates the balance).
            results.append(
                None if config.balance.enabled else _result(snapshot, user_id, cost, 0, 0)
            )
        elif config.balance.enabled and refill_pending(seen[0], now):
            results.append(None)
        else:
            row, held, profile = seen
            budget = _budget_state(session, config, user_id, profile, now)
            results.append(_result(snapshot, user_id, cost, row.amount_micro, held, budget))
    return results


def _role(profile: Profile | None) -> str | None:
    return profile.role if profile is not None else None


def _budget_state(
    session: Session, config: AppConfig, user_id: str, profile: Profile | None, now: datetime
) -> BudgetState | None:
    budget = effective_budget(config, profile)
    return budget_state(session, user_id, budget, now) if budget is not None else None


def check_spend(
    session: Session,
    snapshot: ConfigSnapshot,
    user_id: str,
    request: SpendEstimateIn | Cost,
    now: datetime,
    role: str | None = None,
) -> CheckResult:
    """The check with its writes: a role sent, first sight and due refills, under
    the row lock.

    ``request`` is the estimate, or its cost when the caller has priced it
    already (then ``role`` is the role sent with it).
    """
    cost = request if isinstance(request, Cost) else estimate_cost(snapshot.prices, request)
    config = snapshot.config
    if isinstance(request, SpendEstimateIn):
        role = request.role
    if role is not None:  # stored first: a new user starts with the role's policy
        assign_roles(session, config, {user_id: role}, now)
    budget = effective_budget(config, users_repo.profiles(session, [user_id]).get(user_id))
    if config.balance.enabled or budget is not None or role is not None:
        # Creates the balance (startBalance) and applies a due refill, once, under the
        # row lock; a budget's holds are serialised by the same lock. A user with a
        # profile always has a balance row: the unlocked read finds the profile through it.
        balance_micro = touch_users(session, [user_id], config, now)[user_id].amount_micro
    else:
        row = balance_repo.get_balance(session, user_id)
        balance_micro = row.amount_micro if row is not None else 0
    reserved = balance_repo.held_micro(session, [user_id], now).get(user_id, 0)
    # Read after the row lock: every hold and usage committed before it counts.
    state = budget_state(session, user_id, budget, now) if budget is not None else None
    return _result(snapshot, user_id, cost, balance_micro, reserved, state)


def _result(
    snapshot: ConfigSnapshot,
    user_id: str,
    cost: Cost,
    balance_micro: int,
    reserved_micro: int,
    budget: BudgetState | None = None,
) -> CheckResult:
    # Balances disabled: LibreChat never refuses (a budget still may).
    enabled = snapshot.config.balance.enabled
    balance_allowed = not enabled or cost.total_micro <= balance_micro - reserved_micro
    within_budget = budget is None or budget.fits(reserved_micro, cost.total_micro)
    allowed = balance_allowed and within_budget
    return CheckResult(
        user_id, allowed, balance_micro, reserved_micro, cost, budget, balance_allowed
    )
