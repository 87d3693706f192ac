"""Auto-refill schedule (pure): when is the next refill due."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

_FIXED = {
    "seconds": timedelta(seconds=1),
    "minutes": timedelta(minutes=1),
    "hours": timedelta(hours=1),
    "days": timedelta(days=1),
    "weeks": timedelta(weeks=1),
}


def add_interval(start: datetime, value: int, unit: str) -> datetime:
    """``start`` plus ``value`` units; months are calendar months (day clamped)."""
    if unit == "months":
        month_index = start.month - 1 + value
        year = start.year + month_index // 12
        month = month_index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day)
    try:
        return start + _FIXED[unit] * value
    except KeyError:
        raise ValueError(f"unknown refill interval unit {unit!r}") from None


def refill_due(last_refill_at: datetime | None, value: int, unit: str, now: datetime) -> bool:
    """LibreChat semantics: due once ``now`` reaches last refill + one interval."""
    if last_refill_at is None:
        return True
    return now >= add_interval(last_refill_at, value, unit)
