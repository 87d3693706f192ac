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
from billing.balances.service import touch_users
from billing.pricing.engine import PriceBook
from billing.pricing.types import Cost
from billing.reservations import repository as reservation_repo
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


def check_spend(
    session: Session,
    snapshot: ConfigSnapshot,
    user_id: str,
    request: SpendEstimateIn,
    now: datetime,
) -> CheckResult:
    cost = estimate_cost(snapshot.prices, request)
    config = snapshot.config
    if config.balance.enabled:
        # Creates the balance (startBalance) and applies a due refill, once, under the row lock.
        balance_micro = touch_users(session, [user_id], config, now)[user_id].amount_micro
    else:
        row = balance_repo.get_balance(session, user_id)
        balance_micro = row.amount_micro if row is not None else 0
    reserved = reservation_repo.held_micro(session, [user_id], now).get(user_id, 0)
    # Balances disabled: LibreChat never refuses.
    allowed = not config.balance.enabled or cost.total_micro <= balance_micro - reserved
    return CheckResult(user_id, allowed, balance_micro, reserved, cost)
