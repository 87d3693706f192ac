"""Pre-flight check: may this user spend the estimated cost of a call?

LibreChat semantics (due auto-refill first, a new user gets startBalance,
allowed when the cost fits), except that active reservations are subtracted:
"fits" means cost <= balance - active unexpired holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from billing.balances import repository as balance_repo
from billing.balances.check_schemas import SpendEstimateIn
from billing.balances.service import refill_pending, touch_users
from billing.pricing.engine import PriceBook
from billing.pricing.types import Cost
from billing.runtime import ConfigSnapshot


@dataclass(frozen=True, slots=True)
class CheckResult:
    user_id: str
    allowed: bool
    balance_micro: int
    reserved_micro: int
    cost: Cost

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
    requests: list[tuple[str, Cost]],
    now: datetime,
) -> list[CheckResult | None]:
    """Several checks (user_id, estimated cost) answered by one unlocked read.

    The common case, a known user with no refill due, needs nothing else.
    None for a check that needs a write first (a new user gets startBalance,
    a due refill is applied): ``check_spend`` does those under the row lock.
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


def check_spend(
    session: Session,
    snapshot: ConfigSnapshot,
    user_id: str,
    request: SpendEstimateIn | Cost,
    now: datetime,
) -> CheckResult:
    """The check with its writes: first sight and due refills, under the row lock.

    ``request`` is the estimate, or its cost when the caller has priced it already.
    """
    cost = request if isinstance(request, Cost) else estimate_cost(snapshot.prices, request)
    config = snapshot.config
    if config.balance.enabled:
        # Creates the balance (startBalance) and applies a due refill, once, under the row lock.
        balance_micro = touch_users(session, [user_id], config, now)[user_id].amount_micro
    else:
        row = balance_repo.get_balance(session, user_id)
        balance_micro = row.amount_micro if row is not None else 0
    reserved = balance_repo.held_micro(session, [user_id], now).get(user_id, 0)
    return _result(snapshot, user_id, cost, balance_micro, reserved)


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
