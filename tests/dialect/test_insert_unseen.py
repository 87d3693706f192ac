"""The writers' ``insert_unseen``: ``insert_new`` of keys the transaction has just read
as free. SQLite (one writer, holding the lock since the read) inserts them plainly;
PostgreSQL, where another transaction may have taken one since, is ``insert_new``."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import Table, create_engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing import dialect
from billing.dialect.postgresql import COPY_MIN_ROWS
from billing.models import Balance
from testkit.databases import empty_tables
from tests.dialect.test_bulk import _balance

TABLE = Balance.__table__
assert isinstance(TABLE, Table)


@pytest.mark.parametrize("size", [3, COPY_MIN_ROWS + 7])
def test_free_keys_are_all_inserted(db_url: str, size: int) -> None:
    empty_tables(db_url)
    engine = create_engine(db_url)
    keys = [f"u{i:03d}" for i in range(size)]
    try:
        with Session(engine) as session:
            rows = [_balance(key) for key in keys]
            assert dialect.of(session).insert_unseen(session, TABLE, "user_id", rows) == set(keys)
            session.commit()
        with Session(engine) as session:
            assert sorted(session.scalars(select(Balance.user_id))) == keys
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_on_postgresql_a_key_taken_since_the_read_is_skipped(postgres_url: str) -> None:
    """Another transaction committed one of the keys: the answer is insert_new's."""
    empty_tables(postgres_url)
    engine = create_engine(postgres_url)
    keys = [f"u{i:03d}" for i in range(COPY_MIN_ROWS + 7)]
    try:
        with Session(engine) as other:
            other.execute(TABLE.insert(), [{**_balance(keys[5]), "amount_micro": 42}])
            other.commit()
        with Session(engine) as session:
            rows = [_balance(key) for key in keys]
            inserted = dialect.of(session).insert_unseen(session, TABLE, "user_id", rows)
            session.commit()
        assert inserted == set(keys) - {keys[5]}
        with Session(engine) as session:
            kept = session.scalar(select(Balance.amount_micro).where(Balance.user_id == keys[5]))
        assert kept == 42  # the other transaction's row
    finally:
        engine.dispose()


def test_on_sqlite_a_taken_key_fails_the_insert(sqlite_url: str) -> None:
    """One writer: a key read as free is still free, so a taken one means the caller
    did not read it first, and the unique index refuses the insert."""
    empty_tables(sqlite_url)
    engine = create_engine(sqlite_url)
    try:
        with Session(engine) as session:
            session.execute(TABLE.insert(), [_balance("u005")])
            session.commit()
        with Session(engine) as session, pytest.raises((IntegrityError, sqlite3.IntegrityError)):
            rows = [_balance(f"u{i:03d}") for i in range(COPY_MIN_ROWS)]
            dialect.of(session).insert_unseen(session, TABLE, "user_id", rows)
    finally:
        engine.dispose()
