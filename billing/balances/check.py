"""Pre-flight check: may this user spend the estimated cost of a call?

LibreChat semantics (due auto-refill first, a new user gets startBalance,
allowed when the cost fits), except that active reservations are subtracted:
"fits" means cost <= balance - active unexpired holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from billing import metrics
from billing.balances import repository as balance_repo
from billing.balances.check_schemas import SpendEstimateIn
from billing.balances.service import refill_pending, touch_users
from billing.balances.types import CheckResult
from billing.pricing.engine import PriceBook
from billing.pricing.types import Cost
from billing.runtime import ConfigSnapshot, Runtime


def estimate_cost(prices: PriceBook, request: SpendEstimateIn) -> Cost:
    return prices.price(request.endpoint, request.model, request.estimate_counts())


def checks_without_writing(
    session: Session,
    snapshot: ConfigSnapshot,
    requests: list[tuple[str, Cost]],
    now: datetime,
) -> list[CheckResult | None]:
    """Several checks (user_id, estimated cost) answered by one unlocked read.

    The common case, a known user with no refill due, needs nothing else.
    None for a check that needs a write first (a new user gets startBalance,
    a due refill is applied): ``checks_with_writing`` does those under the row lock.
    Reading without the lock is as good as with it for a check, which only
    reads; reservations are what hold credit against concurrent spending.
    """
    config = snapshot.config
    found = balance_repo.balances_and_holds(session, (user_id for user_id, _ in requests), now)
    results: list[CheckResult | None] = []
    for user_id, cost in requests:
        seen = found.get(user_id)
        if seen is None:
            results.append(
                None if config.balance.enabled else _result(snapshot, user_id, cost, 0, 0)
            )
        elif config.balance.enabled and refill_pending(seen[0], now):
            results.append(None)
        else:
            results.append(_result(snapshot, user_id, cost, seen[0].amount_micro, seen[1]))
    return results


async def check(
    runtime: Runtime, snapshot: ConfigSnapshot, user_id: str, estimate: SpendEstimateIn
) -> CheckResult:
    """POST /v1/balances/{user_id}/check: may the user spend the estimate's cost?

    One unlocked read answers the common case, and concurrent checks of this
    worker share it (``runtime.group_read``). First sight and a due refill
    write first: those checks go to the worker's group committer, the commit
    point of the hot paths, where the ones arriving together share one
    transaction.
    """
    cost = estimate_cost(snapshot.prices, estimate)  # an unknown endpoint: refused before any I/O
    read = runtime.group_read.submit(checks_without_writing, snapshot, (user_id, cost), 1)
    result = await asyncio.wrap_future(read)
    if result is None:
        write = runtime.group_commit.submit(checks_with_writing, snapshot, (user_id, cost), 1)
        result = await asyncio.wrap_future(write)
    metrics.record_balance_check(allowed=result.allowed)  # answered from committed state
    return result


def checks_with_writing(
    session: Session,
    snapshot: ConfigSnapshot,
    requests: list[tuple[str, Cost]],
    now: datetime,
) -> list[CheckResult]:
    """Checks (user_id, cost) with their writes: first sight and due refills, under
    the row locks (taken in user id order, all at once: no deadlock in a group)."""
    user_ids = {user_id for user_id, _ in requests}
    balances = _balances(session, snapshot, user_ids, now)
    held = balance_repo.held_micro(session, user_ids, now)
    return [
        _result(snapshot, user_id, cost, balances.get(user_id, 0), held.get(user_id, 0))
        for user_id, cost in requests
    ]


def _balances(
    session: Session, snapshot: ConfigSnapshot, user_ids: Iterable[str], now: datetime
) -> dict[str, int]:
    if snapshot.config.balance.enabled:
        # Creates the balance (startBalance) and applies a due refill, once, under the row lock.
        rows = touch_users(session, user_ids, snapshot.config, now)
        return {user_id: row.amount_micro for user_id, row in rows.items()}
    return balance_repo.balance_amounts(session, user_ids)


def check_spend(
    session: Session,
    snapshot: ConfigSnapshot,
    user_id: str,
    request: SpendEstimateIn | Cost,
    now: datetime,
) -> CheckResult:
    """One check with its writes, in the caller's transaction (a reservation's).

    ``request`` is the estimate, or its cost when the caller has priced it already.
    """
    cost = request if isinstance(request, Cost) else estimate_cost(snapshot.prices, request)
    return checks_with_writing(session, snapshot, [(user_id, cost)], now)[0]


def _result(
    snapshot: ConfigSnapshot,
    user_id: str,
    cost: Cost,
    balance_micro: int,
    reserved_micro: int,
) -> CheckResult:
    # Balances disabled: LibreChat never refuses.
    enabled = snapshot.config.balance.enabled
    allowed = not enabled or cost.total_micro <= balance_micro - reserved_micro
    return CheckResult(user_id, allowed, balance_micro, reserved_micro, cost)
