"""SQLite reads and inserts that step once, not once per row (billing/dialect/sqlite_rows.py):
what they give is what SQLAlchemy's row by row reads and RETURNING gave."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from billing import dialect
from billing.db import make_engine
from billing.dialect import StaticQuery, sqlite_rows
from billing.models import Balance, UsageEvent
from testkit.databases import empty_tables

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _table(model: type) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def _balance(user_id: str, refilled: datetime | None, enabled: bool) -> dict[str, object]:
    return {
        "user_id": user_id,
        "amount_micro": -(2**62) if enabled else 2**62,  # far past 2**53: exact, not a float
        "auto_refill_enabled": enabled,
        "refill_interval_value": 30,
        "refill_interval_unit": "days",
        "refill_amount_micro": 0,
        "last_refill_at": refilled,
        "created_at": NOW,
        "updated_at": NOW,
    }


def _event(event_id: str, fingerprint: bytes | None) -> dict[str, object]:
    return {
        "event_id": event_id,
        "user_id": "u1",
        "endpoint": "openAI",
        "model": "gpt-4o",
        "context": "message",
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "cache_write_tokens": 0,
        "cache_read_tokens": 0,
        "priced_by": "default",
        "total_micro": 3,
        "cost_json": '{"total_credits": "0.000003", "quoted": "it\'s \\"x\\""}',
        "occurred_at": NOW,
        "received_at": NOW,
        "fingerprint": fingerprint,
    }


_BALANCES = StaticQuery(lambda ids: select(*_table(Balance).c).where(ids(Balance.user_id, "ids")))
_EVENTS = StaticQuery(
    lambda ids: select(
        UsageEvent.event_id, UsageEvent.cost_json, UsageEvent.occurred_at, UsageEvent.fingerprint
    ).where(ids(UsageEvent.event_id, "ids"))
)


def _plain_in(ids: list[str], column: Any, _name: str) -> Any:
    return column.in_(ids)


def test_a_static_read_as_one_json_row_gives_sqlalchemys_values(sqlite_url: str) -> None:
    """Timestamps (UTC, microseconds), booleans, 63-bit integers, text holding JSON,
    blobs and NULLs (a NULL blob is not the empty one) come back alike."""
    empty_tables(sqlite_url)
    engine = make_engine(sqlite_url)
    balances = [
        _balance("a", NOW, True),
        _balance("b", None, False),
    ]
    events = [_event("e1", bytes(range(256))), _event("e2", None), _event("e3", b"")]
    try:
        with Session(engine) as session:
            writer = dialect.of(session)
            session.execute(_table(Balance).insert(), balances)
            session.execute(_table(UsageEvent).insert(), events)
            for query, ids in (
                (_BALANCES, ["a", "b", "nobody"]),
                (_EVENTS, ["e1", "e2", "e3"]),
            ):
                found = writer.fetch(session, query, {"ids": ids})
                plain = query.build(partial(_plain_in, ids))
                assert sqlite_rows.packed(plain, engine.dialect) is not None  # one JSON row
                expected = [tuple(row) for row in session.execute(plain)]
                assert len(expected) == len(ids) - (ids[-1] == "nobody")
                assert sorted(map(tuple, found)) == sorted(expected)
                assert {tuple(map(type, row)) for row in found} == {
                    tuple(map(type, row)) for row in expected
                }
            session.rollback()
    finally:
        engine.dispose()


def test_insert_new_without_returning_names_each_new_key_once(sqlite_url: str) -> None:
    """A key repeated within the rows goes in once (the first row); keys stored before
    are left alone; the keys inserted are the new ones."""
    empty_tables(sqlite_url)
    engine = make_engine(sqlite_url)
    table = _table(Balance)
    try:
        with Session(engine) as session:
            writer = dialect.of(session)
            assert writer.insert_new(session, table, "user_id", [_balance("old", None, False)])
            rows = [
                _balance("old", NOW, True),
                _balance("new", NOW, True),
                _balance("new", None, False),
                _balance("other", None, False),
            ]
            assert writer.insert_new(session, table, "user_id", rows) == {"new", "other"}
            stored = dict(session.execute(select(Balance.user_id, Balance.last_refill_at)).all())
            session.rollback()
    finally:
        engine.dispose()
    assert stored == {"old": None, "new": NOW, "other": None}
