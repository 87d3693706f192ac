"""Exactly-once ingest and no lost updates with real concurrent clients and workers."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from billing.balances.service import reconcile
from billing.models import LedgerEntry, UsageEvent
from tests.conftest import AppFactory, LiveServer
from tests.helpers import CLAUDE_CONFIG, event

COST = 11250  # credits per helper event


def _counts(url: str) -> tuple[int, int, list[Any]]:
    engine = create_engine(url)
    with Session(engine) as session:
        events = session.scalar(select(func.count()).select_from(UsageEvent))
        usage_rows = session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "usage")
        )
        mismatches = reconcile(session)
    engine.dispose()
    return int(events or 0), int(usage_rows or 0), mismatches


def _post_all(base: str, events: list[dict[str, Any]], batch: int) -> tuple[int, int]:
    accepted = duplicates = 0
    with httpx.Client(base_url=base, timeout=60) as client:
        for start in range(0, len(events), batch):
            response = client.post("/v1/usage", json={"events": events[start : start + batch]})
            assert response.status_code == 200, response.text
            accepted += response.json()["accepted"]
            duplicates += response.json()["duplicates"]
    return accepted, duplicates


def test_thousand_events_twice_then_from_eight_clients_charge_once(
    make_client: AppFactory, db_url: str, write_config: Any, live_server: LiveServer
) -> None:
    client = make_client(CLAUDE_CONFIG)
    users = [f"user-{i}" for i in range(10)]
    events = [event(f"idem-{i}", users[i % 10]) for i in range(1000)]
    for _round in range(2):
        for start in range(0, 1000, 250):
            response = client.post("/v1/usage", json={"events": events[start : start + 250]})
            assert response.status_code == 200, response.text
    config: Path = write_config(CLAUDE_CONFIG)
    with live_server(db_url, config=config, workers=2) as base, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: _post_all(base, events, 100), range(8)))
    assert all(accepted == 0 and dups == 1000 for accepted, dups in results)
    n_events, n_usage_rows, mismatches = _counts(db_url)
    assert n_events == 1000 and n_usage_rows == 4000 and mismatches == []
    for user in users:
        expected = 100_000 - 100 * COST
        assert client.get(f"/v1/balances/{user}").json()["credits"] == str(expected)


def test_first_sight_race_charges_once(
    db_url: str, write_config: Any, live_server: LiveServer
) -> None:
    """Eight clients post the same new events at once: one wins each event."""
    config: Path = write_config(CLAUDE_CONFIG)
    events = [event(f"race-{i}", f"racer-{i % 3}") for i in range(200)]
    with live_server(db_url, config=config, workers=2) as base, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: _post_all(base, events, 20), range(8)))
    assert sum(accepted for accepted, _ in results) == 200
    n_events, _, mismatches = _counts(db_url)
    assert n_events == 200 and mismatches == []


def _worker(base: str, worker: int, rounds: int) -> int:
    """Interleaved single events and batches for the same users."""
    posted = 0
    with httpx.Client(base_url=base, timeout=60) as client:
        for i in range(rounds):
            batch = [
                event(f"w{worker}-{i}-{j}", f"shared-{(worker + i + j) % 5}") for j in range(10)
            ]
            response = client.post("/v1/usage", json={"events": batch})
            assert response.status_code == 200, response.text
            single = event(f"w{worker}-{i}-single", f"shared-{(i * 7 + worker) % 5}")
            response = client.post("/v1/usage", json=single)
            assert response.status_code == 200, response.text
            grant = client.post(
                f"/v1/balances/shared-{i % 5}/credits",
                json={"amount": "1000", "idempotency_key": f"grant-{i}"},  # shared keys: once
            )
            assert grant.status_code == 200, grant.text
            posted += 11
    return posted


@pytest.mark.postgres
def test_four_processes_no_lost_update_on_postgres(
    postgres_url: str, write_config: Any, live_server: LiveServer
) -> None:
    from testkit.databases import empty_tables

    empty_tables(postgres_url)
    config: Path = write_config(CLAUDE_CONFIG)
    with live_server(postgres_url, config=config, workers=4) as base:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(4) as pool:
            posted = sum(pool.starmap(_worker, [(base, w, 15) for w in range(4)]))
    n_events, n_usage_rows, mismatches = _counts(postgres_url)
    assert n_events == posted == 4 * 15 * 11
    assert n_usage_rows == posted * 4
    assert mismatches == []
    engine = create_engine(postgres_url)
    with Session(engine) as session:
        total = session.scalar(select(func.sum(LedgerEntry.amount_micro)))
    engine.dispose()
    # 5 users x start balance, 15 distinct grant keys x 1000, minus every event.
    assert total == (5 * 100_000 + 15 * 1000 - posted * COST) * 1_000_000
