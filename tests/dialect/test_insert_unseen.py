"""The writers' ``insert_unseen``: ``insert_new`` of keys the transaction read as free.

PostgreSQL copies the rows straight in, in a savepoint of its own, and falls back
to ``insert_new`` when another transaction took a key meanwhile; SQLite (one
writer) inserts them plainly. Either way the answer is ``insert_new``'s.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Table, create_engine, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing import dialect
from billing.dialect.postgresql import COPY_MIN_ROWS, PostgreSQL
from billing.models import Balance
from testkit.databases import empty_tables
from tests.dialect.test_bulk import _balance

TABLE = Balance.__table__
assert isinstance(TABLE, Table)


def _keys(count: int) -> list[str]:
    # Mixed case: bytewise order ("B" < "a") is not every collation's order.
    return [f"{'aB'[i % 2]}{i:03d}" for i in range(count)]


def _stored(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            rows = session.execute(select(Balance.user_id, Balance.amount_micro)).all()
            return {user_id: amount for user_id, amount in rows}
    finally:
        engine.dispose()


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The row counts PostgreSQL's insert_unseen handed to insert_new."""
    calls: list[int] = []
    original = PostgreSQL.insert_new

    def spy(self: PostgreSQL, session: Session, table: Table, key: str, rows: Any) -> set[Any]:
        calls.append(len(rows))
        return original(self, session, table, key, rows)

    monkeypatch.setattr(PostgreSQL, "insert_new", spy)
    return calls


@pytest.mark.parametrize("size", [3, COPY_MIN_ROWS + 7])
def test_free_keys_are_all_inserted_and_the_transaction_goes_on(
    db_url: str, size: int, fallbacks: list[int]
) -> None:
    empty_tables(db_url)
    engine = create_engine(db_url)
    keys = _keys(size)
    try:
        with Session(engine) as session:
            writer = dialect.of(session)
            assert writer.insert_unseen(session, TABLE, "user_id", [_balance(k) for k in keys]) == (
                set(keys)
            )
            writer.add_amounts(session, TABLE, "user_id", "amount_micro", {keys[0]: -250}, {})
            session.commit()
    finally:
        engine.dispose()
    stored = _stored(db_url)
    assert sorted(stored) == sorted(keys)
    assert stored[keys[0]] == 750
    if size >= COPY_MIN_ROWS and db_url.startswith("postgresql"):
        assert fallbacks == []  # one COPY, no insert_new


def test_on_sqlite_a_taken_key_fails_the_insert(sqlite_url: str) -> None:
    """One writer: a key read as free is still free, so a taken one is a caller's
    error, refused by the unique index, not skipped."""
    empty_tables(sqlite_url)
    engine = create_engine(sqlite_url)
    try:
        with Session(engine) as session:
            session.execute(TABLE.insert(), [_balance("a000")])
            session.commit()
        with Session(engine) as session, pytest.raises((IntegrityError, sqlite3.IntegrityError)):
            rows = [_balance(k) for k in _keys(COPY_MIN_ROWS)]
            dialect.of(session).insert_unseen(session, TABLE, "user_id", rows)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_key_committed_since_the_read_falls_back_to_insert_new(
    postgres_url: str, fallbacks: list[int]
) -> None:
    """The COPY fails on the taken key; its savepoint is rolled back (none of its
    rows stay) and insert_new inserts the others; the transaction goes on."""
    empty_tables(postgres_url)
    engine = create_engine(postgres_url)
    keys = _keys(COPY_MIN_ROWS + 7)
    try:
        with Session(engine) as other:
            other.execute(TABLE.insert(), [{**_balance(keys[5]), "amount_micro": 42}])
            other.commit()
        with Session(engine) as session:
            rows = [_balance(k) for k in keys]
            inserted = dialect.of(session).insert_unseen(session, TABLE, "user_id", rows)
            assert inserted == set(keys) - {keys[5]}
            assert session.scalar(select(func.count()).select_from(TABLE)) == len(keys)
            session.commit()
    finally:
        engine.dispose()
    assert fallbacks == [len(keys)]
    stored = _stored(postgres_url)
    assert sorted(stored) == sorted(keys) and stored[keys[5]] == 42  # the other's row


def _blocked_on_a_lock(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            return bool(waiting)
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("other_commits", [True, False])
def test_a_key_another_transaction_is_inserting_waits_for_its_end(
    postgres_url: str, fallbacks: list[int], other_commits: bool
) -> None:
    """The COPY waits on the key's index entry. The other commits: the key is
    taken (insert_new decides, as above). It rolls back: the COPY goes through."""
    empty_tables(postgres_url)
    engine = create_engine(postgres_url)
    keys = _keys(COPY_MIN_ROWS + 7)
    holding, release = threading.Event(), threading.Event()

    def other() -> None:
        with Session(engine) as session:
            session.execute(TABLE.insert(), [{**_balance(keys[-1]), "amount_micro": 42}])
            holding.set()
            assert release.wait(30)
            session.commit() if other_commits else session.rollback()

    def mine() -> set[Any]:
        with Session(engine) as session:
            rows = [_balance(k) for k in keys]
            inserted = dialect.of(session).insert_unseen(session, TABLE, "user_id", rows)
            session.commit()
            return inserted

    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(other)
            assert holding.wait(30)
            second = pool.submit(mine)
            deadline = time.monotonic() + 30
            while not _blocked_on_a_lock(postgres_url):
                assert time.monotonic() < deadline and not second.done()
                time.sleep(0.02)
            release.set()
            first.result(30)
            inserted = second.result(30)
    finally:
        engine.dispose()
    stored = _stored(postgres_url)
    assert sorted(stored) == sorted(keys)
    if other_commits:
        assert inserted == set(keys) - {keys[-1]} and stored[keys[-1]] == 42
        assert fallbacks == [len(keys)]
    else:
        assert inserted == set(keys) and stored[keys[-1]] == 1_000
        assert fallbacks == []
