"""A charge that waits for another transaction's balance lock adds to the balance
that transaction committed (PostgreSQL, READ COMMITTED). The charge's update
rides in the lock's own statement (dialect ``lock_and_add``): the row read after
the wait and the row updated must both be the newest version, or the other
transaction's change would be lost or the answer's balance stale."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from billing.balances import service as balances
from billing.balances.service import reconcile
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event
from tests.reservations.support import set_credits
from tests.reservations.test_lock_wait import _wait_for_a_lock_wait

COST = Decimal(11250)  # credits, the helper event
START = 100_000


def test_a_charge_waiting_on_the_lock_adds_to_the_committed_balance(
    make_client: AppFactory, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite runs one write transaction at a time: no lock to wait on")
    client = make_client(CLAUDE_CONFIG)
    users = ["a-first", "waiter", "z-last"]  # the waited-for row between two others
    for user in users:
        set_credits(client, user, START)
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    body = {"events": [event(f"wait-{user}", user) for user in users]}
    pool = ThreadPoolExecutor(1)
    with runtime.sessions() as first:
        # A grant of 7 credits to "waiter": its balance row locked and changed, not committed.
        balances.grant(
            first, runtime.snapshot.config, "waiter", Decimal(7), reason=None,
            idempotency_key=None, now=runtime.clock(), actor="test",
        )  # fmt: skip
        charged = pool.submit(client.post, "/v1/usage", json=body)
        try:
            waited = _wait_for_a_lock_wait(runtime)
        finally:
            first.commit()  # never leaves the charge waiting, whatever failed
    answer = charged.result(timeout=10)
    pool.shutdown()
    assert waited, "the charge never waited on the lock"
    assert answer.status_code == 200, answer.text
    expected = {user: Decimal(START) - COST + (7 if user == "waiter" else 0) for user in users}
    for outcome in answer.json()["events"]:
        user = outcome["event_id"].removeprefix("wait-")
        assert Decimal(outcome["balance"]) == expected[user], outcome
    for user in users:
        stored = client.get(f"/v1/balances/{user}").json()["credits"]
        assert Decimal(stored) == expected[user], user
    with runtime.sessions() as session:
        assert reconcile(session) == []
