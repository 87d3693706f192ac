"""50 concurrent reservations from several processes against a multi-worker server.

The user can afford exactly K holds: exactly K succeed, the rest get 402,
and after settling every hold the ledger reconciles.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from billing.balances.service import reconcile
from tests.conftest import LiveServer
from tests.helpers import CLAUDE_CONFIG
from tests.reservations.support import ESTIMATE_CREDITS, estimate

K = 7
PROCESSES, THREADS = 5, 10  # 50 attempts
SETTLED_CREDITS = 4500  # real cost of each settling event: 1000 prompt + 100 completion


def _attempt(base: str, start: Any) -> tuple[int, str | None]:
    start.wait()  # every process is up (spawning is slow)
    with httpx.Client(base_url=base, timeout=60) as client:
        # Connect first, so the second barrier releases requests rather than handshakes;
        # it is short, well inside the server's keep-alive timeout.
        client.get("/healthz")
        start.wait()
        response = client.post("/v1/reservations", json={**estimate(), "user_id": "racer"})
    body = response.json()
    return response.status_code, body.get("reservation_id") or body.get("error")


def _process(base: str, start: Any) -> list[tuple[int, str | None]]:
    """One client process: THREADS attempts, all released at once with the other processes."""
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(_attempt, [base] * THREADS, [start] * THREADS))


def _reconcile(url: str) -> list[Any]:
    engine = create_engine(url)
    with Session(engine) as session:
        mismatches = reconcile(session)
    engine.dispose()
    return mismatches


def test_exactly_k_of_fifty_concurrent_reservations_fit(
    db_url: str, write_config: Any, live_server: LiveServer
) -> None:
    config: Path = write_config(CLAUDE_CONFIG)
    workers = 4 if db_url.startswith("postgresql") else 2
    with live_server(db_url, config=config, workers=workers) as base:
        with httpx.Client(base_url=base, timeout=60) as http:
            credits = str(K * ESTIMATE_CREDITS)
            assert http.put("/v1/balances/racer", json={"credits": credits}).status_code == 200
        ctx = multiprocessing.get_context("spawn")
        with ctx.Manager() as manager, ctx.Pool(PROCESSES) as pool:
            start = manager.Barrier(PROCESSES * THREADS)
            chunks = pool.starmap(_process, [(base, start)] * PROCESSES)
        results = [result for chunk in chunks for result in chunk]
        held = [rid for status, rid in results if status == 201]
        refused = [error for status, error in results if status == 402]
        assert len(held) == K and len(set(held)) == K
        assert refused == ["insufficient_balance"] * (PROCESSES * THREADS - K)
        with httpx.Client(base_url=base, timeout=60) as http:
            view = http.get("/v1/balances/racer").json()
            assert view["reserved_credits"] == credits and view["available_credits"] == "0"
            events = [
                {
                    "event_id": f"settle-{i}",
                    "user_id": "racer",
                    "endpoint": "Claude-Compatible",
                    "model": "claude-sonnet-4-5",
                    "tokens": {"prompt": 1000, "completion": 100},
                    "reservation_id": rid,
                }
                for i, rid in enumerate(held)
            ]
            answer = http.post("/v1/usage", json={"events": events}).json()
            outcomes = [e["reservation"]["outcome"] for e in answer["events"]]
            assert outcomes == ["settled"] * K
            view = http.get("/v1/balances/racer").json()
    remaining = str(K * (ESTIMATE_CREDITS - SETTLED_CREDITS))
    assert (view["credits"], view["reserved_credits"], view["available_credits"]) == (
        remaining,
        "0",
        remaining,
    )
    assert _reconcile(db_url) == []
