"""ReservationRow.values(): the insert's mapping, as dataclasses.asdict gives it."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from billing.reservations.repository import ReservationRow


def test_values_are_asdict_without_the_copy() -> None:
    now = datetime(2026, 12, 5, 23, 0, tzinfo=UTC)
    row = ReservationRow(
        "res_1", "u1", "Bench", "m", 1_500, "active", now, now + timedelta(seconds=60),
        None, None, "key-1",
    )  # fmt: skip
    values = row.values()
    assert values == asdict(row)
    assert list(values) == list(asdict(row))  # every column, in the same order
    assert values["created_at"] is now  # the same (immutable) objects, not copies
