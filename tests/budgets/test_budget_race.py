"""K concurrent holds from several processes against a multi-worker server,
for a user whose budget leaves room for K-1 of them: exactly K-1 are granted."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.budgets.support import EVENT_CREDITS
from tests.conftest import LiveServer
from tests.helpers import CLAUDE_CONFIG, event
from tests.reservations.support import ESTIMATE_CREDITS, estimate

PROCESSES, THREADS = 3, 4
K = PROCESSES * THREADS


def _attempt(base: str, start: Any) -> tuple[int, str | None]:
    start.wait()  # every process is up (spawning is slow)
    with httpx.Client(base_url=base, timeout=60) as client:
        client.get("/healthz")  # connected before the second barrier releases the requests
        start.wait()
        response = client.post("/v1/reservations", json={**estimate(), "user_id": "racer"})
    body = response.json()
    return response.status_code, body.get("reservation_id") or body.get("error")


def _process(base: str, start: Any) -> list[tuple[int, str | None]]:
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(_attempt, [base] * THREADS, [start] * THREADS))


def test_k_concurrent_holds_against_a_budget_for_k_minus_1(
    db_url: str, write_config: Any, live_server: LiveServer
) -> None:
    config: Path = write_config(CLAUDE_CONFIG.replace("100000", "10000000"))
    workers = 4 if db_url.startswith("postgresql") else 2
    with live_server(db_url, config=config, workers=workers) as base:
        with httpx.Client(base_url=base, timeout=60) as http:
            # Spend already in the period counts: the budget leaves room for K-1 holds.
            limit = EVENT_CREDITS + (K - 1) * ESTIMATE_CREDITS
            budget = {"limit_credits": str(limit), "period": "day"}
            assert http.put("/v1/users/racer/budget", json=budget).status_code == 200
            usage = http.post("/v1/usage", json=event("spent", user_id="racer"))
            assert usage.status_code == 200, usage.text
        ctx = multiprocessing.get_context("spawn")
        with ctx.Manager() as manager, ctx.Pool(PROCESSES) as pool:
            start = manager.Barrier(PROCESSES * THREADS)
            chunks = pool.starmap(_process, [(base, start)] * PROCESSES)
        results = [result for chunk in chunks for result in chunk]
        held = [rid for status, rid in results if status == 201]
        assert len(held) == K - 1 and len(set(held)) == K - 1, results
        assert [error for status, error in results if status != 201] == ["budget_exceeded"]
        with httpx.Client(base_url=base, timeout=60) as http:
            active = http.get("/v1/reservations", params={"user_id": "racer", "status": "active"})
            assert len(active.json()["reservations"]) == K - 1
            view = http.get("/v1/users/racer/budget").json()
            assert view["spent_credits"] == str(EVENT_CREDITS)
            check = http.post("/v1/balances/racer/check", json=estimate()).json()
            assert check["allowed"] is False and check["error"] == "budget_exceeded"
