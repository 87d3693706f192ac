"""A reprice run racing live ingest for the same users: no lost update, reconcile clean."""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import func, select

from billing.models import UsageEvent
from billing.reprice import service
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event
from tests.reprice.helpers import CHEAPER_CONFIG, EVER, assert_money_invariants, scalar

USERS = [f"racer-{n}" for n in range(4)]
BATCHES = 25


def test_reprice_racing_ingest_loses_nothing(make_client: AppFactory) -> None:
    old = make_client(CLAUDE_CONFIG)  # ingests at the old prices while the run goes on
    for user in USERS:
        old.post("/v1/usage", json=event(f"seed-{user}", user_id=user))
    cheaper = make_client(CHEAPER_CONFIG)
    runtime = cheaper.app.state.runtime  # type: ignore[attr-defined]
    snapshot = runtime.snapshot
    selection = service.Selection(
        datetime.fromisoformat(EVER["from"]), datetime.fromisoformat(EVER["to"])
    )
    failures: list[str] = []

    def ingest() -> None:
        for batch in range(BATCHES):
            events = [event(f"live-{batch}-{user}", user_id=user) for user in USERS]
            answer = old.post("/v1/usage", json={"events": events})
            if answer.status_code != 200:
                failures.append(answer.text)

    writer = threading.Thread(target=ingest)
    writer.start()
    runs = 0
    while writer.is_alive() or runs == 0:
        service.reprice(
            runtime.sessions,
            snapshot.config,
            snapshot.prices,
            selection,
            runtime.clock(),
            dry_run=False,
            reason="race",
            chunk=3,
        )
        runs += 1
    writer.join()
    assert failures == []
    assert_money_invariants(cheaper)

    last = service.reprice(
        runtime.sessions,
        snapshot.config,
        snapshot.prices,
        selection,
        runtime.clock(),
        dry_run=False,
        reason="race: the rest",
    )
    assert last.changed_events == last.events  # what ingest added after the last pass
    every = BATCHES + 1
    assert scalar(cheaper, select(func.count()).select_from(UsageEvent)) == every * len(USERS)
    priced = select(func.count()).where(UsageEvent.total_micro != 10250 * 1_000_000)
    assert scalar(cheaper, priced) == 0
    for user in USERS:  # startBalance 100000, every event at the new 10250
        expected = 100000 - every * 10250
        assert cheaper.get(f"/v1/balances/{user}").json()["credits"] == str(expected)
    assert_money_invariants(cheaper)
