"""SQLite write transactions queue on a flock of the database file (billing/sqlite_writer.py):
a second writer waits in the kernel, not in SQLite's sleeping busy handler, and is
let in when the first commits or rolls back; the connections checkpoint the log
themselves."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from billing import sqlite_writer
from billing.db import CACHE_KIB, READ_ONLY, make_engine
from billing.models import AuditEntry
from billing.sqlite_writer import QUEUE_SUFFIX
from testkit.databases import empty_tables

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def engines(sqlite_url: str) -> Iterator[Callable[[], Engine]]:
    """Engines on one SQLite file (each with its own connections: like two workers)."""
    empty_tables(sqlite_url)
    made: list[Engine] = []

    def make() -> Engine:
        made.append(make_engine(sqlite_url))
        return made[-1]

    yield make
    for engine in made:
        engine.dispose()


def _audit_row(n: int, details: str = "{}") -> dict[str, Any]:
    return {"created_at": NOW, "action": f"write-{n}", "target": "x", "details": details}


def _write(engine: Engine, n: int, then: Callable[[Session], None] = Session.commit) -> None:
    with Session(engine) as session:
        session.execute(insert(AuditEntry).values(**_audit_row(n)))
        then(session)


def _traced(engine: Engine) -> list[str]:
    """The statements the engine's connections start (SQLite's trace)."""
    started: list[str] = []

    @event.listens_for(engine, "connect")
    def trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(started.append)

    return started


@pytest.mark.parametrize("end", [Session.commit, Session.rollback])
def test_a_second_writer_waits_in_the_queue_and_goes_in_when_the_first_ends(
    engines: Callable[[], Engine], end: Callable[[Session], None]
) -> None:
    first, second = engines(), engines()
    started = _traced(second)
    done: list[float] = []

    def write() -> None:
        _write(second, 2)
        done.append(time.monotonic())

    with Session(first) as session:
        session.execute(insert(AuditEntry).values(**_audit_row(1)))  # BEGIN IMMEDIATE: queued
        thread = threading.Thread(target=write)
        thread.start()
        time.sleep(0.3)
        # Waiting in the queue: not yet at BEGIN IMMEDIATE (SQLite's busy handler).
        assert thread.is_alive() and not done
        assert "BEGIN IMMEDIATE" not in started
        ended = time.monotonic()
        end(session)
    thread.join(10)
    assert done and done[0] - ended < 1.0
    with Session(first) as session:
        actions = set(session.scalars(select(AuditEntry.action)))
    assert actions == ({"write-1", "write-2"} if end is Session.commit else {"write-2"})


def test_a_writer_gives_up_after_the_busy_timeout_as_before(
    engines: Callable[[], Engine],
) -> None:
    first, second = engines(), engines()

    @event.listens_for(second, "connect")
    def short_timeout(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.queue_timeout_s = 0.2

    with Session(first) as session:
        session.execute(insert(AuditEntry).values(**_audit_row(1)))
        errors: list[BaseException] = []
        thread = threading.Thread(target=lambda: _catch(errors, lambda: _write(second, 2)))
        thread.start()
        thread.join(10)
        assert len(errors) == 1 and isinstance(errors[0], OperationalError)
        assert "database is locked" in str(errors[0])
        session.commit()
    _write(second, 3)  # the queue is free again


def _catch(errors: list[BaseException], run: Callable[[], None]) -> None:
    try:
        run()
    except BaseException as exc:
        errors.append(exc)


def test_a_thread_in_the_queue_does_not_wait_on_itself(engines: Callable[[], Engine]) -> None:
    """A second write connection of the same thread skips the queue: SQLite's own lock
    refuses it (after its busy timeout) instead of the thread waiting forever."""
    first, second = engines(), engines()

    @event.listens_for(second, "connect")
    def short_timeout(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=50")

    with Session(first) as session:
        session.execute(insert(AuditEntry).values(**_audit_row(1)))
        with pytest.raises(OperationalError, match="locked"):
            _write(second, 2)
        session.commit()
    _write(second, 3)  # the queue is free again


def test_the_log_is_checkpointed_by_the_writers_themselves(
    engines: Callable[[], Engine], sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """wal_autocheckpoint is off on these connections; they checkpoint once the log
    passes CHECKPOINT_PAGES, so it does not grow without bound (here a smaller
    threshold, taken when a connection opens: the same rule, less to write)."""
    monkeypatch.setattr(sqlite_writer, "CHECKPOINT_PAGES", 1000)
    engine = engines()
    wal = Path(f"{sqlite_url.removeprefix('sqlite:///')}-wal")
    with engine.connect() as connection:
        page_size = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
        connection.rollback()
    limit = sqlite_writer.CHECKPOINT_PAGES * page_size
    largest = 0
    details = '{"note": "%s"}' % ("x" * 3000)
    for n in range(60):
        with Session(engine) as session:
            rows = [_audit_row(n * 1000 + i, details) for i in range(200)]
            session.execute(insert(AuditEntry), rows)
            session.commit()
        largest = max(largest, os.stat(wal).st_size)
    assert 3 * limit < 60 * 200 * len(details)  # written: several times the threshold
    assert largest < 2 * limit


def test_closing_a_connection_keeps_sqlites_locks_of_the_others(
    engines: Callable[[], Engine], sqlite_url: str
) -> None:
    """Closing any descriptor of a file drops all of the process's POSIX locks on it,
    so the queue must never open the database file itself: here a connection is
    closed while another stays open, and a second process that writes and closes
    must still see this one and leave the WAL alone (it deleted it under us, and
    CI saw "disk I/O error", when the queue locked the database file)."""
    path = sqlite_url.removeprefix("sqlite:///")
    staying, closing = engines(), engines()
    with staying.connect().execution_options(**{READ_ONLY: True}) as connection:
        connection.exec_driver_sql("SELECT count(*) FROM audit_entry").scalar_one()
        _write(closing, 1)
        closing.dispose()  # closes its connection and the queue's descriptor
        child = (
            "import sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1], timeout=5)\n"
            'c.execute("INSERT INTO audit_entry (created_at, action, target, details) '
            "VALUES ('2026-01-02 03:04:05', 'child', 'x', '{}')\")\n"
            "c.commit()\n"
            "c.close()\n"
        )
        subprocess.run([sys.executable, "-c", child, path], check=True, timeout=30)
        assert Path(f"{path}-wal").exists(), "the other process thought itself the last one"
        connection.rollback()
    assert Path(f"{path}{QUEUE_SUFFIX}").exists()
    _write(staying, 2)
    with Session(staying) as session:
        actions = set(session.scalars(select(AuditEntry.action)))
    assert actions == {"write-1", "child", "write-2"}


def test_connections_keep_their_durability_with_a_larger_page_cache(
    engines: Callable[[], Engine],
) -> None:
    """WAL and synchronous=NORMAL as always; the page cache CACHE_KIB (an ingest
    transaction's dirty pages fit, none re-read)."""
    with engines().connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar_one() == "wal"
        assert pragma("PRAGMA synchronous").scalar_one() == 1  # NORMAL
        assert pragma("PRAGMA cache_size").scalar_one() == -CACHE_KIB
        connection.rollback()
