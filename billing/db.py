"""Engine and session factory (SQLite file in WAL mode, or PostgreSQL)."""

from __future__ import annotations

import select
import sqlite3
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.orm import Session, sessionmaker

from billing.dialect import Dialect, for_engine, session_info
from billing.dialect import of as session_dialect
from billing.sqlite_writer import QueuedConnection

# Page cache of each SQLite connection (KiB): bounded, and filled only as used.
CACHE_KIB = 16 * 1024


def make_engine(url: str, *, pool_size: int = 10, unflushed_commits: bool = False) -> Engine:
    """``unflushed_commits``: commits on these connections return before their log is
    flushed to disk (a crash may lose them, nothing else can), for writes that may be
    lost, e.g. a hold. PostgreSQL: ``synchronous_commit`` off, set once when a
    connection opens rather than a ``SET LOCAL`` round trip per transaction. SQLite:
    its connections' synchronous setting is the same for every commit (ignored)."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            # Write transactions queue across processes (billing/sqlite_writer.py).
            connect_args={"check_same_thread": False, "timeout": 30, "factory": QueuedConnection},
            # We issue BEGIN IMMEDIATE ourselves: pysqlite's implicit BEGIN would
            # take only a read lock and fail on upgrade under concurrency.
            isolation_level=None,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # Instead of a ping per checkout (a round trip per transaction), a local
        # check of the socket: see _drop_closed_connection.
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={"options": _postgres_options(unflushed_commits)},
    )
    event.listen(engine, "checkout", _drop_closed_connection)
    return engine


def _postgres_options(unflushed_commits: bool) -> str:
    """Settings of each new session, sent with the connection (no round trip).

    Sessions in UTC: psycopg then loads timestamptz values with ``datetime.UTC``
    itself as tzinfo, which ``astimezone(UTC)`` (every UTC column, every balance row
    the ingest locks) returns as is; with the server's zone, even ``Etc/UTC``, each
    is a conversion through zoneinfo (~0.6 ms per 1,000-event batch). No SQL here
    depends on the session's zone (``extract(epoch ...)`` does not)."""
    options = "-c TimeZone=UTC"
    return options + " -c synchronous_commit=off" if unflushed_commits else options


def _drop_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection the server has closed (restart, terminated backend) is
    readable while idle: it holds the server's goodbye or end-of-file. Seeing
    that costs one poll() of the socket, not a round trip; the pool then
    discards the connection and checks out another (DisconnectionError)."""
    if dbapi_connection.closed:
        raise exc.DisconnectionError("connection closed")
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        raise exc.DisconnectionError("connection closed by the server while idle in the pool")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # A 2,000-event ingest transaction dirties ~1,500 pages (the ledger's and
    # the events' indexes take inserts all over): with SQLite's default 2 MiB
    # cache it re-read ~2,600 of them per transaction from the file (pread).
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    cursor.close()
    if isinstance(dbapi_connection, QueuedConnection):
        dbapi_connection.open_queue()


# Execution option of read-only sessions (Runtime.read_sessions).
READ_ONLY = "billing_read_only"


def _sqlite_begin_immediate(connection: Any) -> None:
    # One writer at a time: take the write lock when the transaction starts so
    # read-modify-write sequences cannot interleave (no lost updates). Readers
    # take no lock (WAL), so they never queue behind writers.
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
        return
    driver = connection.connection.driver_connection
    if isinstance(driver, QueuedConnection):
        try:
            driver.enter_queue()
        except sqlite3.OperationalError as error:  # as SQLAlchemy wraps the busy handler's
            raise exc.OperationalError("BEGIN IMMEDIATE", None, error) from error
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if isinstance(driver, QueuedConnection):
            driver.leave_queue()
        raise


def make_session_factory(engine: Engine, dialect: Dialect | None = None) -> sessionmaker[Session]:
    """Sessions that carry the database's writer (``billing.dialect.of``), chosen
    here from the engine unless given."""
    info = session_info(dialect or for_engine(engine))
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False, info=info)


def flush_this_commit(session: Session) -> None:
    """Make this transaction's commit wait for its log flush on a connection made
    with ``unflushed_commits`` (a write that must not be lost in a crash, e.g. a
    gateway lease, which calls are then held against without the database)."""
    if session_dialect(session).name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = on"))
