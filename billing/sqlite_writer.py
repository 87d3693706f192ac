"""SQLite write transactions of every process queue on one lock, handed over within ~1 ms.

SQLite lets one writer in at a time; another process's ``BEGIN IMMEDIATE``
meanwhile gets SQLITE_BUSY and its busy handler sleeps, longer each time
(1, 2, 5, 10, ... 100 ms): when the writer commits, the lock stays free while
the next one sleeps on. With two workers ingesting batches of 1,000
(``make bench``), the write lock was held only ~65-85% of the time while the
other worker's committer waited ~140-370 ms a transaction for it.

Here a write transaction first takes an exclusive ``flock`` on a file beside
the database, ``<database>-queue``, then ``BEGIN IMMEDIATE``; commit and
rollback let it go. Never the database file itself: SQLite locks it with
POSIX ``fcntl`` locks, and closing *any* descriptor of a file drops every
such lock the process holds on it, so another process could then take
SQLite's exclusive lock, think itself the last connection and delete the
WAL under this one's open connections ("disk I/O error", or worse). A waiter
tries again every QUEUE_POLL_S, so the lock changes hands within about a
millisecond; after the connection's busy timeout it gives up with SQLite's
own "database is locked", as the busy handler did (a blocking ``flock``
would hand over at once, but cannot time out).

SQLite's own lock still guards the data: a process that does not take the
queue (an old binary, the sqlite3 shell) waits in the busy handler as before.
A thread that already holds the queue through another connection does not
take it again (it would wait on itself): its second connection waits in the
busy handler, as it always did.

The WAL checkpoint (copying the log back into the database file, ~50 ms a
2,000-event group) ran inside the commit of whichever transaction pushed
the log past 1,000 pages, after SQLite's lock was released but inside this
queue. These connections checkpoint themselves after letting the queue go
(``wal_autocheckpoint`` off, the threshold checked by the log's size), so
the next writer runs meanwhile. The threshold is CHECKPOINT_PAGES, not
SQLite's 1,000: a 2,000-event ingest transaction alone logs ~1,100-1,700
pages (its index inserts land all over), so at 1,000 every transaction
checkpointed; a checkpoint copies each page once however many frames the
log holds of it, and the same index pages come back transaction after
transaction (txn_cpu: checkpoint CPU 0.44-0.53 s -> 0.21-0.29 s for the
same 98,000 frames). Durability is unchanged: ``synchronous`` and the
journal mode are as before (billing/db.py).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from typing import Any

# The log's size, in pages, from which a committer checkpoints it (see the module;
# SQLite's own default is 1,000): at most ~32 MiB of log with 4 KiB pages.
CHECKPOINT_PAGES = 8000

# The queue's lock file, beside the database (never the database file: see the module).
QUEUE_SUFFIX = "-queue"

# How often a writer waiting in the queue tries again.
QUEUE_POLL_S = 0.001

_holding = threading.local()  # .connection: the connection this thread holds the queue with


class QueuedConnection(sqlite3.Connection):
    """A sqlite3 connection whose write transactions queue (see the module)."""

    def __init__(self, database: Any, timeout: float = 5.0, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, timeout, *args, **kwargs)
        self.queue_timeout_s = timeout  # how long enter_queue waits (the busy timeout)
        self._queue_fd: int | None = None
        self._queued = False
        self._wal_path = ""
        self._checkpoint_bytes = 0

    def open_queue(self) -> None:
        """Open the queue's lock file (after connecting; a database in memory has
        none, and one in a directory this process cannot write queues only in
        SQLite's busy handler) and take over the WAL checkpoints."""
        path = next((file for _, name, file in self.execute("PRAGMA database_list")
                     if name == "main"), "")  # fmt: skip
        if not path:
            return
        try:
            self._queue_fd = os.open(
                path + QUEUE_SUFFIX, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644
            )
        except OSError:
            return
        (page_size,) = self.execute("PRAGMA page_size").fetchone()
        self.execute("PRAGMA wal_autocheckpoint=0")
        # The log is cut back to nothing when a writer starts it over (after a
        # complete checkpoint), so its size tells the pages written since.
        self.execute("PRAGMA journal_size_limit=0")
        self._wal_path = f"{path}-wal"
        self._checkpoint_bytes = CHECKPOINT_PAGES * page_size

    def enter_queue(self) -> None:
        """Wait for the queue (before BEGIN IMMEDIATE)."""
        if self._queue_fd is None or self._queued:
            return
        held = getattr(_holding, "connection", None)
        if held is not None and held._queued:
            return  # this thread is in the queue already, through another connection
        deadline = time.monotonic() + self.queue_timeout_s
        while True:
            try:
                fcntl.flock(self._queue_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError("database is locked") from None
                time.sleep(QUEUE_POLL_S)
        self._queued = True
        _holding.connection = self

    def leave_queue(self) -> None:
        if self._queued:
            self._queued = False
            if self._queue_fd is not None:
                fcntl.flock(self._queue_fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.leave_queue()
        self._checkpoint_if_due()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.leave_queue()

    def close(self) -> None:
        self.leave_queue()
        if self._queue_fd is not None:
            os.close(self._queue_fd)
            self._queue_fd = None
        super().close()

    def _checkpoint_if_due(self) -> None:
        if not self._checkpoint_bytes:
            return
        try:
            size = os.stat(self._wal_path).st_size
        except FileNotFoundError:
            return
        if size >= self._checkpoint_bytes:
            # PASSIVE, as SQLite's own: copies what no reader still needs, waits for no one.
            self.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
