"""Write batches on a second thread while the caller reads and maps the next one.

Reading and mapping documents is Python and holds the GIL; writing mostly
waits on the database (sqlite3's steps and psycopg's network I/O release the
GIL, and PostgreSQL works in its own process), so on two cores they overlap.
At most one batch waits in the queue while another is written: memory stays
flat. Batches are written in the order submitted, one at a time, and the
session is used by one thread at a time: the writer between start and the end
of the ``with`` block, the caller before and after.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

from billing.thread_names import name_os_thread

Batch = TypeVar("Batch")


class BackgroundWriter(Generic[Batch]):
    def __init__(self, write: Callable[[Batch], None]) -> None:
        self._write = write
        self._queue: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._cancelled = False
        self._thread = threading.Thread(target=self._run, name="import-writer", daemon=True)

    def __enter__(self) -> BackgroundWriter[Batch]:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # On an error in the caller (--strict, Ctrl-C) drop what is queued; either
        # way wait for the batch in progress, so the caller may roll back safely.
        self._cancelled = error is not None
        self._queue.put(None)
        self._thread.join()
        if error is None:
            self._raise_write_error()

    def submit(self, batch: Batch) -> None:
        """Queue a batch (waits while one is already queued); raises an earlier write error."""
        self._raise_write_error()
        self._queue.put(batch)

    def _raise_write_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        name_os_thread()
        # After an error or a cancel, keep draining so submit() never blocks forever.
        while (batch := self._queue.get()) is not None:
            if self._error is not None or self._cancelled:
                continue
            try:
                self._write(batch)
            except BaseException as exc:  # handed to the caller's thread
                self._error = exc
