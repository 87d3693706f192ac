"""The database writers (billing/dialect) on both databases: small (unnest) and large (COPY)
batches on PostgreSQL, executemany on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Table, create_engine, func, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from billing import dialect
from billing.dialect.postgresql import COPY_MIN_ROWS
from billing.models import Balance, LedgerEntry
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
