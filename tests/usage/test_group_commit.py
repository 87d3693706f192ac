"""Group commit and the late event insert, with real concurrent transactions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, make_transient_to_detached

from billing import session_events
from billing.balances.service import reconcile
from billing.errors import Unavailable
from billing.group_commit import GroupCommitter
from billing.models import LedgerEntry, UsageEvent
from billing.runtime import Runtime
from billing.settings import Settings
from billing.usage import ingest, service
from billing.usage.schemas import UsageEventIn
from testkit.databases import empty_tables
from tests.helpers import CLAUDE_CONFIG, event

COST_MICRO = 11250 * 1_000_000  # the helper event, in micro-credits


MakeRuntime = Callable[[str], Runtime]


@pytest.fixture
def make_runtime(write_config: Any) -> Iterator[MakeRuntime]:
    """A runtime over a database URL (CLAUDE_CONFIG), closed after the test whatever happens."""
    with ExitStack() as stack:

        def make(url: str) -> Runtime:
            runtime = Runtime(Settings(database_url=url, config=write_config(CLAUDE_CONFIG)))
            stack.callback(runtime.close)
            return runtime

        yield make


def _prepared(runtime: Runtime, *bodies: dict[str, Any]) -> list[service.PricedEvent]:
    events = [UsageEventIn.model_validate(body) for body in bodies]
    return service.prepare_events(runtime.snapshot, events, runtime.clock())


@pytest.mark.postgres
@pytest.mark.parametrize("others", [1, ingest.LEDGER_FIRST_MIN_EVENTS])  # events, ledger first
def test_an_event_committed_by_another_transaction_meanwhile_is_a_duplicate(
    postgres_url: str, make_runtime: MakeRuntime, others: int
) -> None:
    """T1 inserts event X and stays open; T2 (X and others) waits on X's unique-index
    entry, then finds X taken: it must not charge X (in a large group, where its
    ledger rows are already written, it deletes them again), keep the others', and
    charge only those. No double charge, reconcile clean."""
    empty_tables(postgres_url)
    runtime = make_runtime(postgres_url)
    first = _prepared(runtime, event("race-x", "racer"))
    ys = [event(f"race-y{i:03d}", "racer") for i in range(others)]
    second = _prepared(runtime, event("race-x", "racer"), *ys)
    one, two = race_two_records(runtime, first, second)
    out1, out2 = one.result(30), two.result(30)

    assert [o.status for o in out1] == ["accepted"]
    assert [o.status for o in out2] == ["duplicate"] + ["accepted"] * others
    assert out2[0].cost == out1[0].cost  # the duplicate answers with the stored cost
    with runtime.sessions() as session:
        rows = session.execute(
            select(LedgerEntry.event_id, func.count())
            .where(LedgerEntry.kind == "usage")
            .group_by(LedgerEntry.event_id)
        ).all()
        assert dict(rows) == {"race-x": 4} | {y["event_id"]: 4 for y in ys}
        events = session.scalar(select(func.count()).select_from(UsageEvent))
        assert events == 1 + others
        assert reconcile(session) == []
    assert out2[1].balance_micro == 100_000 * 1_000_000 - (1 + others) * COST_MICRO


Requests = list[list[service.PricedEvent]]


def _held_record(
    gate: threading.Event,
    calls: list[int] | None = None,
    refuse: str | None = None,
) -> Any:
    """service.record_requests once ``gate`` opens: the committer's first group is
    held, so the requests submitted meanwhile queue up. ``calls`` collects the
    group sizes; a group holding event ``refuse`` fails like a database error."""

    def work(session: Session, snapshot: Any, requests: Requests, now: Any) -> Any:
        assert gate.wait(30)
        if calls is not None:
            calls.append(len(requests))
        if refuse is not None and any(r[0].event.event_id == refuse for r in requests):
            raise RuntimeError("refused by the database")
        return service.record_requests(session, snapshot, requests, now)

    return work


def _wait_until_blocked(runtime: Runtime, second: Future[Any]) -> None:
    """Until some backend of this database waits on a lock (T2 on X's index entry)."""
    deadline = time.monotonic() + 30
    activity = text(
        "SELECT state, wait_event_type, wait_event, left(query, 80) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    with runtime.engine.connect() as conn:
        while time.monotonic() < deadline:
            if second.done():
                second.result()  # its error, if it failed
                raise AssertionError("the second transaction finished without waiting")
            rows = conn.execute(activity).all()
            conn.rollback()
            if any(row.wait_event_type == "Lock" for row in rows):
                return
            time.sleep(0.02)
    raise AssertionError(f"the second transaction never waited on the first: {rows}")


def test_concurrent_requests_share_transactions_and_keep_their_own_answers(
    db_url: str, make_runtime: MakeRuntime
) -> None:
    """64 submissions while the committer is held: far fewer transactions than
    requests, each request gets exactly its own outcomes, duplicates across
    requests of one group are answered as duplicates."""
    runtime = make_runtime(db_url)
    gate = threading.Event()
    calls: list[int] = []
    held_record = _held_record(gate, calls)
    committer = GroupCommitter(runtime.sessions, runtime.clock, max_items=1000, threads=1)
    try:
        futures = []
        for i in range(64):
            body = event(f"g-{i % 48}", f"user-{i % 48 % 5}")  # ids 0..15 are sent twice
            prepared = _prepared(runtime, body)
            futures.append(committer.submit(held_record, runtime.snapshot, prepared, len(prepared)))
        gate.set()
        results = [f.result(60) for f in futures]
    finally:
        committer.close()
    assert len(calls) < 64 and sum(calls) == 64
    statuses = [r[0].status for r in results]
    assert [r[0].event_id for r in results] == [f"g-{i % 48}" for i in range(64)]
    assert statuses.count("accepted") == 48 and statuses.count("duplicate") == 16
    assert all(statuses[i] == "accepted" for i in range(48))
    with runtime.sessions() as session:
        assert reconcile(session) == []
        usage = session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "usage")
        )
        assert usage == 48 * 4


def test_a_failing_request_in_a_group_fails_alone(db_url: str, make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(db_url)
    gate = threading.Event()
    work = _held_record(gate, refuse="poison")
    committer = GroupCommitter(runtime.sessions, runtime.clock, max_items=1000, threads=1)
    try:
        ids = ["ok-1", "poison", "ok-2", "ok-3"]
        futures = [
            committer.submit(work, runtime.snapshot, p, 1)
            for p in (_prepared(runtime, event(i, "u-fail")) for i in ids)
        ]
        gate.set()
        outcomes = {}
        for event_id, future in zip(ids, futures, strict=True):
            try:
                outcomes[event_id] = future.result(60)[0].status
            except RuntimeError:
                outcomes[event_id] = "failed"
    finally:
        committer.close()
    assert outcomes == {
        "ok-1": "accepted",
        "poison": "failed",
        "ok-2": "accepted",
        "ok-3": "accepted",
    }
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(UsageEvent)) == 3
        assert reconcile(session) == []


def test_requests_beyond_the_waiting_bound_are_refused_at_once(
    db_url: str, make_runtime: MakeRuntime
) -> None:
    """A stalled database must not let requests pile up in memory: past the bound a
    submission fails at once with 503 unavailable; the ones queued still land."""
    runtime = make_runtime(db_url)
    gate = threading.Event()
    held_record = _held_record(gate)
    committer = GroupCommitter(
        runtime.sessions, runtime.clock, max_items=1000, threads=1, max_waiting=3
    )
    try:
        running = committer.submit(
            held_record, runtime.snapshot, _prepared(runtime, event("w-0", "u-w")), 1
        )
        deadline = time.monotonic() + 30
        while committer.waiting and time.monotonic() < deadline:  # taken by the thread
            time.sleep(0.01)
        queued = [
            committer.submit(
                held_record, runtime.snapshot, _prepared(runtime, event(f"w-{i}", "u-w")), 1
            )
            for i in range(1, 4)
        ]
        with pytest.raises(Unavailable, match="waiting for the database"):
            committer.submit(
                held_record, runtime.snapshot, _prepared(runtime, event("w-4", "u-w")), 1
            )
        gate.set()
        statuses = [f.result(60)[0].status for f in [running, *queued]]
    finally:
        committer.close()
    assert statuses == ["accepted"] * 4
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(UsageEvent)) == 4


def race_two_records(
    runtime: Runtime, first: list[service.PricedEvent], second: list[service.PricedEvent]
) -> tuple[Future[list[service.EventOutcome]], Future[list[service.EventOutcome]]]:
    """T1 records ``first`` and stays open; T2 records ``second`` and is seen waiting
    on T1's lock; then T1 commits. The two outcomes (or errors) as futures."""
    t1_inserted, release_t1 = threading.Event(), threading.Event()

    def t1() -> list[service.EventOutcome]:
        with runtime.sessions() as session:
            out = service.record(session, runtime.snapshot, first, runtime.clock())
            t1_inserted.set()
            assert release_t1.wait(30)
            session.commit()
            return out

    def t2() -> list[service.EventOutcome]:
        with runtime.sessions() as session:
            out = service.record(session, runtime.snapshot, second, runtime.clock())
            session.commit()
            return out

    with ThreadPoolExecutor(2) as pool:
        one = pool.submit(t1)
        assert t1_inserted.wait(30)
        two = pool.submit(t2)
        _wait_until_blocked(runtime, two)
        release_t1.set()
        futures.wait([one, two], timeout=60)
    return one, two


def test_each_transaction_starts_with_an_empty_session(
    db_url: str, make_runtime: MakeRuntime
) -> None:
    """A committer thread reuses its Session: nothing loaded, added or deferred in one
    transaction (committed or failed) is carried into the next."""
    runtime = make_runtime(db_url)
    ran: list[str] = []
    seen: list[tuple[int, int, int]] = []
    kept: list[LedgerEntry] = []

    def work(session: Session, label: str, _payloads: list[int], _now: Any) -> list[int]:
        seen.append((id(session), len(session.identity_map), len(session.new)))
        session.add(UsageEvent())  # pending (never flushed): only what a failure leaves
        session_events.after_commit(session, lambda: ran.append(label))
        if label == "fail":
            raise RuntimeError("refused")
        session.expunge_all()  # nothing to insert
        loaded = LedgerEntry(id=1)  # as if loaded: in the identity map, nothing to flush
        make_transient_to_detached(loaded)
        session.add(loaded)
        kept.append(loaded)  # the identity map holds its objects weakly
        return [0]

    committer = GroupCommitter(runtime.sessions, runtime.clock, max_items=1, threads=1)
    try:
        committer.submit(work, "ok-1", 0, 1).result(60)
        with pytest.raises(RuntimeError, match="refused"):
            committer.submit(work, "fail", 0, 1).result(60)
        committer.submit(work, "ok-2", 0, 1).result(60)
    finally:
        committer.close()
    assert ran == ["ok-1", "ok-2"]
    assert [(n, new) for _, n, new in seen] == [(0, 0)] * 3
    assert len({session for session, _, _ in seen}) == 1  # one Session, reused


@contextmanager
def _counting_committer(
    runtime: Runtime, *, max_items: int, linger_seconds: float
) -> Iterator[tuple[GroupCommitter, Callable[..., list[int]], list[int]]]:
    """A lingering committer, a work function answering each payload with itself,
    and the sizes of the groups it was called with."""
    groups: list[int] = []

    def work(_session: Session, _context: str, payloads: list[int], _now: Any) -> list[int]:
        groups.append(len(payloads))
        return payloads

    committer = GroupCommitter(
        runtime.sessions, runtime.clock, max_items=max_items, linger_seconds=linger_seconds
    )
    try:
        yield committer, work, groups
    finally:
        committer.close()


def test_a_lingering_committer_groups_requests_that_arrive_close_together(
    db_url: str, make_runtime: MakeRuntime
) -> None:
    """Requests 10 ms apart, which a committer without linger would take one by
    one, share a transaction once they are seen coming close together (the
    first, with no gap seen yet, goes at once); none waits much past the linger."""
    runtime = make_runtime(db_url)
    with _counting_committer(runtime, max_items=1000, linger_seconds=0.25) as (
        committer,
        work,
        groups,
    ):
        started = time.monotonic()
        pending = []
        for i in range(6):
            pending.append(committer.submit(work, "ctx", i, 1))
            time.sleep(0.01)
        assert [f.result(30) for f in pending] == [0, 1, 2, 3, 4, 5]
        waited = time.monotonic() - started
    assert groups in ([1, 5], [6])
    assert 0.25 <= waited < 5  # the linger, counted from the group's first request


def test_a_lone_request_does_not_wait_for_the_linger(
    db_url: str, make_runtime: MakeRuntime
) -> None:
    """Requests far apart (farther than the linger) are written at once."""
    runtime = make_runtime(db_url)
    with _counting_committer(runtime, max_items=1000, linger_seconds=0.2) as (
        committer,
        work,
        groups,
    ):
        for i in range(3):
            started = time.monotonic()
            assert committer.submit(work, "ctx", i, 1).result(30) == i
            assert time.monotonic() - started < 0.2
            time.sleep(0.3)  # a gap longer than the linger
    assert groups == [1, 1, 1]


def test_a_lingering_committer_goes_at_once_when_a_group_is_full(
    db_url: str, make_runtime: MakeRuntime
) -> None:
    runtime = make_runtime(db_url)
    with _counting_committer(runtime, max_items=3, linger_seconds=30) as (committer, work, groups):
        assert committer.submit(work, "ctx", 0, 1).result(10) == 0  # the first goes at once
        started = time.monotonic()  # the next come closer together than the linger
        pending = [committer.submit(work, "ctx", i, 1) for i in range(1, 4)]
        assert [f.result(10) for f in pending] == [1, 2, 3]
        assert time.monotonic() - started < 10  # not the 30 s linger
    assert groups == [1, 3]
