"""Queries for budgets: a user's spend in a period, and the alerts a period has had."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from billing import dialect
from billing.models import BudgetAlert, UsageEvent
from billing.models.base import UTCDateTime

# Usage events are charged at their occurred_at (as the ledger rows are): an
# index range scan of (user_id, occurred_at).
_SPENT = select(func.coalesce(func.sum(UsageEvent.total_micro), 0)).where(
    UsageEvent.user_id == bindparam("user_id"),
    UsageEvent.occurred_at >= bindparam("start", type_=UTCDateTime()),
    UsageEvent.occurred_at < bindparam("end", type_=UTCDateTime()),
)


def spent_micro(session: Session, user_id: str, start: datetime, end: datetime) -> int:
    """What the user's usage events in [start, end) cost, in micro-credits."""
    found = session.execute(_SPENT, {"user_id": user_id, "start": start, "end": end})
    return int(found.scalar_one())


def sent_alerts(session: Session, user_id: str, period_start: datetime) -> set[str]:
    stmt = select(BudgetAlert.alert).where(
        BudgetAlert.user_id == user_id, BudgetAlert.period_start == period_start
    )
    return set(session.scalars(stmt))


def claim_alerts(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """Record alerts as sent; (user_id, alert) of those not recorded before.

    The unique (user_id, period_start, alert) makes each fire once per period
    even if two transactions raced to send it.
    """
    if not rows:
        return set()
    table = BudgetAlert.__table__
    assert isinstance(table, Table)
    writer = dialect.of(session)
    key = ("user_id", "period_start", "alert")
    # A handful per spend at most (one per threshold crossed).
    return {
        (row["user_id"], row["alert"])
        for row in rows
        if writer.insert_once(session, table, key, row)
    }
