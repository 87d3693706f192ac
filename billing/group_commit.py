"""Group commit: concurrent write requests of one process share one transaction.

A request prepares its work (parsing, validation, pricing) itself and hands
the result to the process's committer. One committer thread takes everything
waiting that can go together (same work function, same context, up to
``max_items``) and records it in one transaction: one fsync, one lock pass
over the balances and one bulk insert per group instead of per request. A
lone request is committed at once; under load the groups grow by themselves
while the previous group is being written, which is what lets single-event
ingest scale (make bench), and at moderate rates a short linger (below)
lets requests a few milliseconds apart meet. ``threads`` groups may be in
flight at once, so one group's Python work overlaps another's database time
(a worker may get every connection of a client: the kernel, not uvicorn,
spreads them over the workers).

Each request keeps its guarantees: its own items are in one transaction, all
or none. If a group fails, every request in it is retried alone, so one
request's failure (a value the database refuses) never fails another's.

The committer makes many short waits on the database (a round trip per
statement), and after each it needs the GIL back. A request thread busy in
Python (validating and pricing a batch) keeps the GIL for the interpreter's
switch interval, 5 ms by default, after every such wait: the transaction,
and the balance locks it holds, stretched ~2x (a 1,000-event group next to
one CPU-bound thread: 780 ms -> 420 ms a transaction at 0.5 ms, measured).
The first committer thread of a process lowers the interval to
SWITCH_INTERVAL_S.

Each committer thread keeps one Session and closes it after every transaction
(closing empties it: no identity map, no transaction is carried over) instead
of making a new one: ~20 us of CPU less per transaction (in-process A/B of
single-event ingest through the committer, PostgreSQL ~625-640 -> ~600-615 us;
SQLite ~770 -> ~750 us).

A committer made with ``linger_seconds`` may wait that long after the oldest
waiting request arrived before it takes a group (unless ``max_items`` are
already waiting), so that requests a few milliseconds apart share a
transaction: at moderate rates groups of one cost each request a whole
transaction's statements (~1.4 ms of CPU for a gateway record, ~0.1 ms more
per request in the group; benchmarks/RESULTS.md). It lingers only while
requests arrive closer together than the linger (a smoothed mean of the gaps
between them): a lone request at a low rate, which no company would join in
time, is written at once as without a linger.

Futures are ``concurrent.futures.Future``: any event loop (or none) can wait
on them, so the committer does not care which loop a request runs on.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from billing.errors import Unavailable
from billing.thread_names import name_os_thread

log = logging.getLogger("billing.group_commit")

# The process's GIL switch interval once a committer runs (see above).
SWITCH_INTERVAL_S = 0.0005
# The weight of the newest gap between submissions in their smoothed mean (a
# lingering committer's guess of whether company is coming). A gap shorter than
# the mean counts in full: a burst starts lingering at once.
GAP_WEIGHT = 0.2

C = TypeVar("C")  # what a whole group's work is given once (the config snapshot)
P = TypeVar("P")  # one request's prepared work
R = TypeVar("R")  # its result


# Records several requests' payloads in the caller's transaction (never commits):
# (session, context, payloads, now) -> one result per payload, in order. A result
# that is an exception refuses that request alone (raised to it), the others
# of the group are committed.
GroupWork = Callable[[Session, C, list[P], datetime], Sequence[R | BaseException]]


@dataclass(slots=True)
class _Job(Generic[C, P, R]):
    work: GroupWork[C, P, R]
    context: C
    payload: P
    size: int
    future: Future[R] = field(default_factory=Future)
    queued_at: float = field(default_factory=time.monotonic)

    def joins(self, first: _Job[Any, Any, Any]) -> bool:
        """A group is one call of its work with one context: only jobs with the same
        work and the same context object (not merely an equal one) share it."""
        return self.work is first.work and self.context is first.context


class GroupCommitter:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        *,
        max_items: int,
        threads: int = 1,
        max_waiting: int | None = None,
        linger_seconds: float = 0.0,
        observe_items: Callable[[int], None] | None = None,
        name: str = "work",
    ) -> None:
        """``observe_items`` is told the items of each group that committed; ``name``
        names the threads (``commit-<name>_<n>``, for the OS too: billing/thread_names.py)."""
        self._name = f"commit-{name}"
        self._sessions = sessions
        self._observe_items = observe_items
        self._clock = clock
        self._max_items = max_items
        # Items allowed to wait at once: when the database stalls, requests are
        # refused at once (503) instead of piling up in memory behind it.
        self._max_waiting = max_waiting if max_waiting is not None else 50 * max_items
        self._waiting = 0
        self._lock = threading.Lock()
        self._linger = linger_seconds
        self._last_submit = float("-inf")
        self._mean_gap = float("inf")  # between submissions, smoothed (GAP_WEIGHT)
        self._filled = threading.Condition(self._lock)  # max_items waiting: stop lingering
        self._pending: deque[_Job[Any, Any, Any]] = deque()
        self._threads = threads
        self._draining = 0  # threads taking groups now
        self._executor: ThreadPoolExecutor | None = None
        self._thread_session = threading.local()  # each committer thread's Session

    @property
    def waiting(self) -> int:
        """Items queued and not yet taken into a group."""
        return self._waiting

    def submit(self, work: GroupWork[C, P, R], context: C, payload: P, size: int) -> Future[R]:
        """Queue one request's payload (``size`` items) for ``work(session, context,
        payloads, now)``; its future holds the result."""
        job: _Job[C, P, R] = _Job(work, context, payload, size)
        with self._lock:
            if self._waiting and self._waiting + size > self._max_waiting:
                raise Unavailable(
                    f"{self._waiting} items are waiting for the database; retry later"
                )
            self._waiting += size
            self._pending.append(job)
            if self._linger:
                gap = job.queued_at - self._last_submit
                self._last_submit = job.queued_at
                self._mean_gap = min(gap, self._mean_gap + GAP_WEIGHT * (gap - self._mean_gap))
                if self._waiting >= self._max_items:
                    self._filled.notify()
            if self._draining < self._threads:
                self._draining += 1
                if self._executor is None:
                    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
                    self._executor = ThreadPoolExecutor(
                        self._threads, thread_name_prefix=self._name, initializer=name_os_thread
                    )
                self._executor.submit(self._drain)
        return job.future

    def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def _drain(self) -> None:
        while True:
            with self._lock:
                self._linger_for_company()
                group = self._take_group()
                if not group:
                    self._draining -= 1
                    return
            self._commit(group)

    def _linger_for_company(self) -> None:
        """With a linger, while requests arrive closer together than it: wait (lock
        released) until the oldest waiting request has waited ``linger_seconds``,
        or ``max_items`` are waiting."""
        if self._mean_gap >= self._linger:
            return
        while self._pending and self._waiting < self._max_items:
            left = self._pending[0].queued_at + self._linger - time.monotonic()
            if left <= 0:
                return
            self._filled.wait(left)

    def _take_group(self) -> list[_Job[Any, Any, Any]]:
        group: list[_Job[Any, Any, Any]] = []
        items = 0
        while self._pending:
            job = self._pending[0]
            if group and (not job.joins(group[0]) or items + job.size > self._max_items):
                break
            group.append(self._pending.popleft())
            items += job.size
        self._waiting -= items
        return group

    def _commit(self, group: Sequence[_Job[Any, Any, Any]]) -> None:
        first = group[0]
        payloads = [job.payload for job in group]
        try:
            results = self._run(
                lambda session: first.work(session, first.context, payloads, self._clock())
            )
        except Exception as exc:
            if len(group) > 1:
                log.info("group of %d requests failed (%s); retrying each alone", len(group), exc)
                for job in group:
                    self._commit([job])
                return
            _settle(first.future, exc)
            return
        if self._observe_items is not None:
            self._observe_items(sum(job.size for job in group))
        for job, result in zip(group, results, strict=True):
            _settle(job.future, result)

    def _run(self, work: Callable[[Session], R]) -> R:
        """``run_transaction`` on this thread's Session (see the module docstring)."""
        session: Session | None = getattr(self._thread_session, "session", None)
        if session is None:
            session = self._thread_session.session = self._sessions()
        try:
            result = work(session)
            session.commit()
            return result
        finally:
            session.close()


def run_transaction(sessions: sessionmaker[Session], work: Callable[[Session], R]) -> R:
    """``work`` in one transaction, committed here (rolled back if anything fails)."""
    with sessions() as session:
        result = work(session)
        session.commit()
        return result


def _settle(future: Future[Any], outcome: Any) -> None:
    """Deliver a result; a request whose client went away (cancelled) was still committed."""
    try:
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    except InvalidStateError:
        pass
