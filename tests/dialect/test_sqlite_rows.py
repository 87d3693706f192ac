"""The import's SQLite timestamp shortcut stores exactly what SQLAlchemy would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.dialects import sqlite

from billing.dialect.sqlite_rows import utc_text
from billing.models import LedgerEntry

STAMPS = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2025, 6, 1, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    datetime(2025, 6, 1, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2025, 3, 30, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")),
    datetime(2025, 6, 1, tzinfo=ZoneInfo("UTC")),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


def test_utc_text_matches_sqlalchemys_sqlite_processor() -> None:
    dialect = sqlite.dialect()
    column_type = LedgerEntry.__table__.c.created_at.type
    reference = column_type.dialect_impl(dialect).bind_processor(dialect)
    assert reference is not None
    for stamp in STAMPS:
        assert utc_text(stamp) == reference(stamp)
    assert utc_text(None) is None


def test_utc_text_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        utc_text(datetime(2025, 6, 1))
