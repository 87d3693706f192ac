"""Budget periods are calendar periods in the budget's time zone, DST-exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.budgets.periods import window


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "start", "end", "hours"),
    [
        # Berlin springs forward on 2026-03-29: that day has 23 hours.
        (_utc(2026, 3, 29, 12), _utc(2026, 3, 28, 23), _utc(2026, 3, 29, 22), 23),
        # ... and falls back on 2026-10-25: 25 hours.
        (_utc(2026, 10, 25, 12), _utc(2026, 10, 24, 22), _utc(2026, 10, 25, 23), 25),
        # 00:30 local on the day after the change is already the next day.
        (_utc(2026, 10, 25, 23, 30), _utc(2026, 10, 25, 23), _utc(2026, 10, 26, 23), 24),
    ],
)
def test_a_day_runs_from_local_midnight_to_local_midnight_across_dst(
    now: datetime, start: datetime, end: datetime, hours: int
) -> None:
    assert window("day", "Europe/Berlin", now) == (start, end)
    assert end - start == timedelta(hours=hours)


def test_a_skipped_midnight_starts_the_day_when_the_clocks_jump() -> None:
    # Santiago springs forward at 24:00 on 2026-09-05: 00:00 on the 6th never
    # happens and the day starts at 01:00 local (-03:00), 04:00 UTC.
    start, end = window("day", "America/Santiago", _utc(2026, 9, 6, 12))
    assert start == _utc(2026, 9, 6, 4)
    assert end == _utc(2026, 9, 7, 3)


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        # December in New York (-05:00): the last instant of the month is still December.
        (_utc(2027, 1, 1, 4, 59), _utc(2026, 12, 1, 5), _utc(2027, 1, 1, 5)),
        (_utc(2027, 1, 1, 5), _utc(2027, 1, 1, 5), _utc(2027, 2, 1, 5)),
        # February of a non-leap year, then March, which starts in standard time
        # and ends in daylight time (DST from 2027-03-14): 31 days minus one hour.
        (_utc(2027, 2, 28, 12), _utc(2027, 2, 1, 5), _utc(2027, 3, 1, 5)),
        (_utc(2027, 3, 20), _utc(2027, 3, 1, 5), _utc(2027, 4, 1, 4)),
        # A leap February.
        (_utc(2028, 2, 29, 12), _utc(2028, 2, 1, 5), _utc(2028, 3, 1, 5)),
    ],
)
def test_a_month_is_the_calendar_month_in_the_zone(
    now: datetime, start: datetime, end: datetime
) -> None:
    assert window("month", "America/New_York", now) == (start, end)


def test_a_week_starts_on_monday_in_a_half_hour_zone() -> None:
    # Sunday 2026-12-06 20:00 UTC is Monday 01:30 in Kolkata (+05:30): a new week.
    start, end = window("week", "Asia/Kolkata", _utc(2026, 12, 6, 20))
    assert start == _utc(2026, 12, 6, 18, 30)
    assert end == start + timedelta(weeks=1)
    assert window("week", "Asia/Kolkata", _utc(2026, 12, 6, 18))[1] == start


def test_utc_periods() -> None:
    assert window("day", "UTC", _utc(2026, 12, 31, 23, 59)) == (
        _utc(2026, 12, 31),
        _utc(2027, 1, 1),
    )
    assert window("month", "UTC", _utc(2026, 12, 31, 23, 59)) == (
        _utc(2026, 12, 1),
        _utc(2027, 1, 1),
    )
