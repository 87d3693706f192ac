"""The database writers (billing/dialect) on both databases: small (unnest) and large (COPY)
batches on PostgreSQL, executemany on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Table, create_engine, func, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from billing import dialect
from billing.dialect.postgresql import COPY_MIN_ROWS
from billing.dialect.rows import RowGroups
from billing.models import Balance, LedgerEntry, UsageEvent
from testkit.databases import empty_tables, postgres_database

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
REASON = 'it\'s "quoted",\ttabbed and\nmultiline \\ text'  # COPY escaping


def _table(model: type) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def _balance(user_id: str) -> dict[str, object]:
    return {
        "user_id": user_id,
        "amount_micro": 1_000,
        "auto_refill_enabled": False,
        "refill_interval_value": 30,
        "refill_interval_unit": "days",
        "refill_amount_micro": 0,
        "last_refill_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }


@pytest.mark.parametrize("size", [3, COPY_MIN_ROWS + 7])
def test_insert_new_returns_only_new_keys_and_add_amounts_is_relative(
    db_url: str, size: int
) -> None:
    engine = create_engine(db_url)
    table = _table(Balance)
    first = [_balance(f"u{i:03d}") for i in range(size)]
    with Session(engine) as session:
        assert dialect.of(session).insert_new(session, table, "user_id", first) == {
            r["user_id"] for r in first
        }
        session.commit()
    again = [_balance(f"u{i:03d}") for i in range(size - 1, size + 2)]  # one old, two new
    with Session(engine) as session:
        inserted = dialect.of(session).insert_new(session, table, "user_id", again)
        assert inserted == {f"u{size:03d}", f"u{size + 1:03d}"}
        dialect.of(session).add_amounts(
            session, table, "user_id", "amount_micro", {"u000": -250, "u001": 0}, {}
        )
        session.commit()
    with Session(engine) as session:
        amounts = dict(session.execute(select(Balance.user_id, Balance.amount_micro)).all())
        stamp = session.scalar(select(Balance.last_refill_at).where(Balance.user_id == "u000"))
    engine.dispose()
    assert len(amounts) == size + 2
    assert amounts["u000"] == 750 and amounts["u001"] == 1_000
    assert stamp == NOW


@pytest.mark.parametrize("size", [2, COPY_MIN_ROWS + 1])
def test_insert_rows_writes_every_row_with_nulls_for_missing_columns(
    db_url: str, size: int
) -> None:
    engine = create_engine(db_url)
    rows = [
        {"user_id": "u", "kind": "grant", "amount_micro": i, "reason": REASON, "created_at": NOW}
        for i in range(size)
    ]
    with Session(engine) as session:
        dialect.of(session).insert_rows(session, _table(LedgerEntry), rows)
        session.commit()
        stored = session.execute(
            select(LedgerEntry.amount_micro, LedgerEntry.reason, LedgerEntry.token_type)
        ).all()
    engine.dispose()
    assert sorted(amount for amount, _, _ in stored) == list(range(size))
    assert {reason for _, reason, _ in stored} == {REASON}
    assert {token_type for _, _, token_type in stored} == {None}


@pytest.mark.parametrize("size", [1, COPY_MIN_ROWS + 1])
def test_naive_datetimes_and_unknown_columns_are_refused(db_url: str, size: int) -> None:
    """Small batches (one JSON document on PostgreSQL, checked once per key set)
    and large ones alike; twice, as the second check of a key set is remembered."""
    engine = create_engine(db_url)
    row = {"user_id": "u", "kind": "grant", "amount_micro": 1, "created_at": NOW}
    naive = {**row, "created_at": datetime(2026, 1, 1)}
    for _twice in range(2):
        with Session(engine) as session:
            writer = dialect.of(session)
            with pytest.raises((ValueError, StatementError), match="naive datetime"):
                writer.insert_rows(session, _table(LedgerEntry), [row] * (size - 1) + [naive])
            with pytest.raises((ValueError, StatementError), match="unknown column"):
                writer.insert_rows(session, _table(LedgerEntry), [{**row, "colour": 1}] * size)
            with pytest.raises((ValueError, StatementError), match="naive datetime"):
                writer.insert_new(
                    session,
                    _table(Balance),
                    "user_id",
                    [{**_balance("n"), "created_at": naive["created_at"]}] * size,
                )
    engine.dispose()


@pytest.mark.parametrize("size", [2, COPY_MIN_ROWS + 1])
def test_rows_with_as_many_but_other_keys_get_nulls_where_they_lack_one(
    db_url: str, size: int
) -> None:
    """The fast path takes the first row's keys; rows of equal length with other
    keys must still land whole (and a naive datetime in any row is refused)."""
    engine = create_engine(db_url)
    base = {"user_id": "u", "kind": "grant", "amount_micro": 1, "created_at": NOW}
    rows = [
        {**base, "reason": "r"} if i % 2 == 0 else {**base, "token_type": "credits"}
        for i in range(size)
    ]
    with Session(engine) as session:
        dialect.of(session).insert_rows(session, _table(LedgerEntry), rows)
        session.commit()
        stored = session.execute(select(LedgerEntry.reason, LedgerEntry.token_type)).all()
    with Session(engine) as session, pytest.raises((ValueError, StatementError)):
        late_naive = [*rows[:-1], {**rows[-1], "created_at": datetime(2026, 1, 1)}]
        dialect.of(session).insert_rows(session, _table(LedgerEntry), late_naive)
    engine.dispose()
    assert sorted(stored, key=str) == sorted(
        [("r", None) if i % 2 == 0 else (None, "credits") for i in range(size)], key=str
    )


@pytest.mark.postgres
def test_copy_sends_each_database_its_own_column_types(postgres_url: str) -> None:
    """Two databases, one table name, different column types: binary COPY into each
    must use that database's types (int8 values sent to an int4 column fail)."""
    empty_tables(postgres_url)
    rows = [
        {"user_id": "u", "kind": "grant", "amount_micro": i, "created_at": NOW}
        for i in range(COPY_MIN_ROWS)
    ]
    with postgres_database("billing_test_types") as narrower:
        engine = create_engine(narrower)
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE ledger_entry ALTER COLUMN amount_micro TYPE integer"))
        engine.dispose()
        for url in (postgres_url, narrower):
            engine = create_engine(url)
            with Session(engine) as session:
                dialect.of(session).insert_rows(session, _table(LedgerEntry), rows)
                session.commit()
                stored = session.scalar(select(func.sum(LedgerEntry.amount_micro)))
            engine.dispose()
            assert stored == sum(range(COPY_MIN_ROWS)), url


def _ledger_groups(events: int, stamp: datetime = NOW) -> RowGroups:
    """Ledger-like rows in groups: two rows per group, one with a NULL number."""
    groups = [
        (
            (f"u{i % 3}", "usage", stamp, f"e{i}", REASON if i % 2 else None),
            [(-i, 10 * i, "prompt", "0.15"), (-2 * i, None, "completion", "0.6")],
        )
        for i in range(events)
    ]
    return RowGroups(
        ("user_id", "kind", "created_at", "event_id", "reason"),
        ("amount_micro", "tokens", "token_type", "rate"),
        groups,
    )


_STORED = (
    LedgerEntry.user_id,
    LedgerEntry.kind,
    LedgerEntry.created_at,
    LedgerEntry.event_id,
    LedgerEntry.reason,
    LedgerEntry.amount_micro,
    LedgerEntry.tokens,
    LedgerEntry.token_type,
    LedgerEntry.rate,
    LedgerEntry.model,
)


@pytest.mark.parametrize("events", [2, COPY_MIN_ROWS])
def test_insert_groups_writes_the_rows_insert_rows_writes(db_url: str, events: int) -> None:
    """insert_groups (PostgreSQL: COPY of concatenated tuples) stores exactly what
    insert_rows stores for the same rows as mappings, NULLs included."""
    engine = create_engine(db_url)
    groups = _ledger_groups(events)
    stored = _stored_both_ways(engine, groups)
    engine.dispose()
    assert len(stored[0]) == 2 * events
    assert stored[0] == stored[1]
    assert {row.model for row in stored[0]} == {None}
    assert {row.reason for row in stored[0]} == ({None, REASON} if events > 1 else {None})


def test_insert_groups_converts_shared_and_own_timestamps_as_insert_rows(db_url: str) -> None:
    """Each group's own timestamp (shared, converted once per group) and one in the
    rows' own values (SQLite: the per-row path) are stored as insert_rows stores them."""
    groups = RowGroups(
        ("user_id", "kind", "created_at"),
        ("amount_micro", "event_id"),
        [((f"u{i}", "usage", NOW + timedelta(seconds=i % 3)), [(-i, f"e{i}"), (1, None)])
         for i in range(5)],
    )  # fmt: skip
    own_stamps = RowGroups(
        ("user_id", "kind"),
        ("amount_micro", "created_at"),
        [((f"u{i}", "usage"), [(-i, NOW + timedelta(minutes=i))]) for i in range(3)],
    )
    engine = create_engine(db_url)
    for case in (groups, own_stamps):
        stored = _stored_both_ways(engine, case)
        assert len(stored[0]) == len(case)
        assert stored[0] == stored[1]
    engine.dispose()


@pytest.mark.parametrize("events", [2, COPY_MIN_ROWS])
def test_insert_groups_refuses_naive_datetimes_and_unknown_columns(
    db_url: str, events: int
) -> None:
    engine = create_engine(db_url)
    naive = _ledger_groups(events, datetime(2026, 1, 1))
    unknown = RowGroups(("user_id", "nope"), ("amount_micro",), [(("u", 1), [(1,)] * events)])
    with Session(engine) as session:
        writer = dialect.of(session)
        with pytest.raises((ValueError, StatementError), match="naive datetime"):
            writer.insert_groups(session, _table(LedgerEntry), naive)
        with pytest.raises(ValueError, match="unknown column"):
            writer.insert_groups(session, _table(LedgerEntry), unknown)
    engine.dispose()


def test_row_groups_lay_out_own_values_then_shared() -> None:
    groups = RowGroups(("a", "b"), ("c",), [((1, 2), [(3,), (4,)]), ((5, 6), [])])
    assert groups.columns == ("c", "a", "b")
    assert len(groups) == 2
    assert groups.values() == [(3, 1, 2), (4, 1, 2)]
    assert groups.rows() == [{"c": 3, "a": 1, "b": 2}, {"c": 4, "a": 1, "b": 2}]


@pytest.mark.parametrize("size", [2, COPY_MIN_ROWS])
def test_insert_new_stores_bytea_values_byte_for_byte(db_url: str, size: int) -> None:
    """Fingerprints (bytea) through the COPY staging path's C bytes dumper, and
    through the small path, come back as sent."""
    engine = create_engine(db_url)
    rows = [
        {
            "event_id": f"e{i:03d}", "user_id": "u", "endpoint": "openAI", "model": "m",
            "context": "message", "prompt_tokens": i, "completion_tokens": 0,
            "cache_write_tokens": 0, "cache_read_tokens": 0, "priced_by": "default",
            "total_micro": 0, "cost_json": "{}", "occurred_at": NOW, "received_at": NOW,
            "fingerprint": bytes([i % 256, 0, 255, 92, 39, 10]) + bytes(10),
        }
        for i in range(size)
    ]  # fmt: skip
    with Session(engine) as session:
        inserted = dialect.of(session).insert_new(session, _table(UsageEvent), "event_id", rows)
        session.commit()
        stored = dict(session.execute(select(UsageEvent.event_id, UsageEvent.fingerprint)).all())
    engine.dispose()
    assert inserted == {row["event_id"] for row in rows}
    assert stored == {row["event_id"]: row["fingerprint"] for row in rows}


def _stored_both_ways(engine: Engine, groups: RowGroups) -> list[list[Any]]:
    """The ledger rows as stored by insert_groups, then by insert_rows (each rolled back)."""
    stored = []
    for write in ("insert_groups", "insert_rows"):
        with Session(engine) as session:
            writer = dialect.of(session)
            if write == "insert_groups":
                writer.insert_groups(session, _table(LedgerEntry), groups)
            else:
                writer.insert_rows(session, _table(LedgerEntry), groups.rows())
            session.flush()
            stored.append(sorted(session.execute(select(*_STORED)).all(), key=str))
            session.rollback()
    return stored
