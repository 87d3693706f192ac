"""Pre-flight check: may this user spend the estimated cost of a call?

LibreChat semantics (due auto-refill first, a new user gets startBalance,
allowed when the cost fits), except that active reservations are subtracted:
"fits" means cost <= balance - active unexpired holds. A user with a budget
(their own or their role's) must also stay within it: the period's spend plus
active holds plus the cost at most the limit (billing/budgets/rules.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from billing import metrics
from billing.balances import repository as balance_repo
from billing.balances.check_schemas import SpendEstimateIn
from billing.balances.roles import roles_differ
from billing.balances.service import refill_pending, touch_users
from billing.balances.types import CheckResult
from billing.budgets.rules import state as budget_state
from billing.budgets.types import BudgetState
from billing.config.model import AppConfig
from billing.pricing.engine import PriceBook
from billing.pricing.types import Cost
from billing.runtime import ConfigSnapshot, Runtime
from billing.users import repository as users_repo
from billing.users.profile import Budget, Profile, effective_budget

# One check: the user, the estimated cost, the role sent with it (None: not sent).
CheckRequest = tuple[str, Cost, str | None]


def estimate_cost(prices: PriceBook, request: SpendEstimateIn) -> Cost:
    return prices.price(request.endpoint, request.model, request.estimate_counts())


def checks_without_writing(
    session: Session,
    snapshot: ConfigSnapshot,
    requests: list[CheckRequest],
    now: datetime,
) -> list[CheckResult | None]:
    """Several checks (user_id, estimated cost, role sent) answered by one unlocked read.

    The common case, a known user with no refill due, needs nothing else (a
    user with a budget: one more indexed read, the period's spend).
    None for a check that needs a write first (a new user gets startBalance,
    a due refill is applied, a new role is stored): ``checks_with_writing``
    does those under the row lock.
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


async def check(
    runtime: Runtime, snapshot: ConfigSnapshot, user_id: str, estimate: SpendEstimateIn
) -> CheckResult:
    """POST /v1/balances/{user_id}/check: may the user spend the estimate's cost?

    One unlocked read answers the common case, and concurrent checks of this
    worker share it (``runtime.group_read``). First sight and a due refill
    write first (so does a role sent that is not stored yet): those checks go
    to the worker's group committer, the commit
    point of the hot paths, where the ones arriving together share one
    transaction.
    """
    cost = estimate_cost(snapshot.prices, estimate)  # an unknown endpoint: refused before any I/O
    request: CheckRequest = (user_id, cost, estimate.role)
    read = runtime.group_read.submit(checks_without_writing, snapshot, request, 1)
    result = await asyncio.wrap_future(read)
    if result is None:
        write = runtime.group_commit.submit(checks_with_writing, snapshot, request, 1)
        result = await asyncio.wrap_future(write)
    metrics.record_balance_check(allowed=result.allowed)  # answered from committed state
    return result


def checks_with_writing(
    session: Session,
    snapshot: ConfigSnapshot,
    requests: list[CheckRequest],
    now: datetime,
) -> list[CheckResult]:
    """Checks (user_id, cost, role sent) with their writes: roles sent, first sight
    and due refills, under the row locks (taken in user id order, all at once: no
    deadlock in a group). A budget's spend is read after the locks: every hold and
    usage committed before them counts, and holds against one budget are
    serialised by the same lock."""
    config = snapshot.config
    roles = {user_id: role for user_id, _, role in requests if role is not None}
    user_ids = sorted({user_id for user_id, _, _ in requests})
    budgets = _budgets(session, config, user_ids, roles)
    # A user with a profile always has a balance row: the unlocked read finds it through it.
    locked = [u for u in user_ids if config.balance.enabled or u in budgets or u in roles]
    balances = _balances(session, snapshot, locked, user_ids, roles, now)
    held = balance_repo.held_micro(session, user_ids, now)
    states = {u: budget_state(session, u, budget, now) for u, budget in budgets.items()}
    return [
        _result(
            snapshot,
            user_id,
            cost,
            balances.get(user_id, 0),
            held.get(user_id, 0),
            states.get(user_id),
        )
        for user_id, cost, _ in requests
    ]


def _budgets(
    session: Session, config: AppConfig, user_ids: list[str], roles: dict[str, str]
) -> dict[str, Budget]:
    """user -> the budget that applies, with the roles sent (stored under the lock) counted."""
    stored = users_repo.profiles(session, user_ids)
    budgets = {}
    for user_id in user_ids:
        profile, role = stored.get(user_id), roles.get(user_id)
        if role is not None:
            profile = replace(profile, role=role) if profile else Profile(user_id, role)
        budget = effective_budget(config, profile)
        if budget is not None:
            budgets[user_id] = budget
    return budgets


def _balances(
    session: Session,
    snapshot: ConfigSnapshot,
    locked: list[str],
    user_ids: Iterable[str],
    roles: dict[str, str],
    now: datetime,
) -> dict[str, int]:
    # Creates the balance (startBalance) and applies a due refill, once, under the row lock.
    rows = touch_users(session, locked, snapshot.config, now, roles) if locked else {}
    amounts = {user_id: row.amount_micro for user_id, row in rows.items()}
    rest = [user_id for user_id in user_ids if user_id not in rows]
    return amounts | balance_repo.balance_amounts(session, rest) if rest else amounts


def check_holding(
    session: Session,
    snapshot: ConfigSnapshot,
    user_id: str,
    request: SpendEstimateIn,
    now: datetime,
) -> CheckResult:
    """One check with its writes, in the caller's transaction (a reservation's).

    The common case is cheap: lock the user's balance row first; then the unlocked
    read (``checks_without_writing``) is as good as a locked one, since it runs
    after the lock (each statement sees what committed before it: every earlier
    hold on this balance). Two reads, no writes. First sight, a due refill or a
    new role go through ``checks_with_writing``."""
    cost = estimate_cost(snapshot.prices, request)
    checked: CheckRequest = (user_id, cost, request.role)
    if balance_repo.lock_balances(session, [user_id]):
        found = checks_without_writing(session, snapshot, [checked], now)[0]
        if found is not None:
            return found
    return checks_with_writing(session, snapshot, [checked], now)[0]


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
