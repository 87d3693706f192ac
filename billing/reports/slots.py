"""The 15-minute slots the usage rollups are kept in (pure time arithmetic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billing.models.usage_rollup import SLOT_SECONDS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SLOT = timedelta(seconds=SLOT_SECONDS)


def slot_number(when: datetime) -> int:
    """The 15-minute slot holding ``when`` (aware), counted from 1970-01-01 UTC."""
    return int((when - _EPOCH).total_seconds() // SLOT_SECONDS)


def slot_floor(when: datetime) -> datetime:
    return _EPOCH + timedelta(seconds=slot_number(when) * SLOT_SECONDS)


def slot_ceil(when: datetime) -> datetime:
    floor = slot_floor(when)
    return floor if floor == when else floor + _SLOT
