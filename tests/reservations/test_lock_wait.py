"""A hold that waits for another transaction's balance lock sees that
transaction's hold once it commits (PostgreSQL, READ COMMITTED: the holds are
read by a statement after the lock's, so its snapshot follows the wait; read
before the lock, or in the lock's own statement, the second hold would fit)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import text

from billing.balances.check_schemas import SpendEstimateIn
from billing.reservations import service as reservations
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG
from tests.reservations.support import ESTIMATE_CREDITS, estimate, set_credits

_WAITING = text(
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


def test_a_hold_waiting_on_the_lock_sees_the_hold_committed_before_it(
    make_client: AppFactory, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite runs one write transaction at a time: no lock to wait on")
    client = make_client(CLAUDE_CONFIG)
    set_credits(client, "waiter", ESTIMATE_CREDITS)  # exactly one hold fits
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    body = {**estimate(), "user_id": "waiter"}
    pool = ThreadPoolExecutor(1)
    with runtime.sessions() as first:
        # The first hold: balance row locked, reservation inserted, not committed yet.
        reservations.create(
            first, runtime.snapshot, "waiter", SpendEstimateIn(**estimate()), 600, runtime.clock()
        )
        second = pool.submit(client.post, "/v1/reservations", json=body)
        try:
            waited = _wait_for_a_lock_wait(runtime)
        finally:
            first.commit()  # never leaves the second one waiting, whatever failed
    answer = second.result(timeout=10)
    pool.shutdown()
    assert waited, "the second hold never waited on the lock"
    assert answer.status_code == 402, answer.text
    assert answer.json()["error"] == "insufficient_balance"
    assert answer.json()["reserved_credits"] == str(ESTIMATE_CREDITS)


def _wait_for_a_lock_wait(runtime: Any) -> bool:
    deadline = time.monotonic() + 10
    with runtime.sessions() as watcher:
        while watcher.execute(_WAITING).scalar_one() == 0:
            watcher.rollback()  # the activity view is read once per transaction
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
    return True
