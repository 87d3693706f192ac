"""Hold a request inside its transaction: lock a table from a second connection."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# Writers only (a write asks for RowExclusiveLock): a reader blocked by the same lock,
# e.g. the console's background ranking query, is not the request under test.
BLOCKED_WRITERS = text(
    "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE a.datname = current_database() AND NOT l.granted"
    " AND l.mode = 'RowExclusiveLock' AND l.pid <> pg_backend_pid()"
)
TERMINATE_OTHERS = text(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@contextmanager
def postgres_table_locked(db_url: str, table: str) -> Iterator[None]:
    """ACCESS EXCLUSIVE on ``table`` until the block ends: writers to it wait."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        transaction = conn.begin()
        conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            transaction.rollback()
    engine.dispose()


@contextmanager
def sqlite_write_locked(db_url: str) -> Iterator[None]:
    """The SQLite write lock until the block ends: the service's BEGIN IMMEDIATE waits."""
    path = make_url(db_url).database
    assert path
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def admin_run(db_url: str, statement: object) -> list[tuple[object, ...]]:
    """Run one statement on a separate autocommit connection."""
    engine = create_engine(db_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(statement)]  # type: ignore[call-overload]
    finally:
        engine.dispose()


def wait_for_blocked_backend(db_url: str, timeout: float = 30) -> int:
    """The pid of a backend of this database waiting to write (a request mid-transaction)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = admin_run(db_url, BLOCKED_WRITERS)
        if rows:
            return int(rows[0][0])  # type: ignore[call-overload]
        time.sleep(0.05)
    raise AssertionError("no request reached the locked table")


def wait_for_backend_gone(db_url: str, pid: int, timeout: float = 30) -> None:
    query = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid").bindparams(pid=pid)
    deadline = time.monotonic() + timeout
    while admin_run(db_url, query)[0][0] != 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"backend {pid} of a killed server did not go away")
        time.sleep(0.05)


def wait_for_sqlite_lock_waiter(pid: int, timeout: float = 30) -> None:
    """Until a thread of process ``pid`` (a one-process `billing serve`) waits for the
    SQLite write lock. SQLite shows no one its waiters, but a waiter sleeps in
    the busy handler between attempts (nanosleep), and nothing else in the
    service sleeps that way: idle threads wait on futexes, the event loop in
    epoll. Linux: the kernel names each thread's wait in /proc/<pid>/task/*/wchan."""
    tasks = Path(f"/proc/{pid}/task")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for task in tasks.iterdir():
            try:
                if "nanosleep" in (task / "wchan").read_text():
                    return
            except FileNotFoundError:
                continue  # the thread ended meanwhile
        time.sleep(0.01)
    raise AssertionError(f"no thread of process {pid} waited for the SQLite write lock")
