"""Budget periods: calendar days, ISO weeks (Monday first) and months in a time zone.

A period runs from local midnight to local midnight, so a day is 23 or 25
hours long across a DST change, and is returned as UTC instants. A midnight
that does not exist (a zone that springs forward at 00:00) starts the day at
the first instant that does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    # fold=0 maps a skipped 00:00 to the instant the clocks jumped (the day's start).
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _first_day(period: str, today: date) -> date:
    if period == "day":
        return today
    if period == "week":
        return today - timedelta(days=today.weekday())
    if period == "month":
        return today.replace(day=1)
    raise ValueError(f"unknown budget period {period!r}")


def _next_first_day(period: str, first: date) -> date:
    if period == "day":
        return first + timedelta(days=1)
    if period == "week":
        return first + timedelta(weeks=1)
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def window(period: str, tz: str, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the ``period`` holding ``now`` in zone ``tz``."""
    zone = ZoneInfo(tz)
    first = _first_day(period, now.astimezone(zone).date())
    return _local_midnight(first, zone), _local_midnight(_next_first_day(period, first), zone)
