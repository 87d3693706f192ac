"""Local-time buckets without the database knowing time zones.

SQLite has no time zone database, so both backends get the same recipe: the
UTC offsets in force over the queried range, as a short list of segments
(one per DST change), become a ``CASE`` over ``created_at`` in SQL. A bucket
is then (local wall-clock truncation, offset), which keeps the two 01:00
hours of a DST fall-back apart and handles half-hour zones (Asia/Kolkata)
exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from billing.errors import InvalidRequest

# No zone changes its offset twice within this step (the shortest gap in
# the tz database is weeks), so scanning at this step finds every change.
_STEP = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class OffsetSegment:
    """From ``start`` (UTC, inclusive) the zone is ``offset_seconds`` ahead of UTC."""

    start: datetime
    offset_seconds: int


def parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest(
            f"tz: unknown time zone {name!r} (use an IANA name such as Europe/Berlin)",
            field="tz",
        ) from None


def _offset(zone: ZoneInfo, at: datetime) -> int:
    delta = at.astimezone(zone).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def _change_point(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first second in (before, after] whose offset differs from ``before``'s."""
    start_offset = _offset(zone, before)
    low, high = before, after
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if _offset(zone, middle) == start_offset:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def offset_segments(zone: ZoneInfo, start: datetime, end: datetime) -> list[OffsetSegment]:
    """Offsets of ``zone`` over [start, end]; the first segment starts at ``start``."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    segments = [OffsetSegment(start, _offset(zone, start))]
    cursor = start
    while cursor < end:
        step_end = min(cursor + _STEP, end)
        if _offset(zone, step_end) != segments[-1].offset_seconds:
            change = _change_point(zone, cursor, step_end)
            segments.append(OffsetSegment(change, _offset(zone, change)))
        cursor = step_end
    return segments


def format_offset(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"
