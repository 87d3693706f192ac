"""POST /v1/balances/{user_id}/check: LibreChat-style pre-flight check, holds and refills."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.orm import Session

from billing.balances.service import reconcile
from billing.models import Balance, LedgerEntry
from tests.conftest import AppFactory, LiveServer
from tests.helpers import CLAUDE_CONFIG
from tests.reservations.support import (
    ESTIMATE_CREDITS,
    T0,
    estimate,
    reconciles,
    reserve,
    set_clock,
    set_credits,
)

DENIAL_KEYS = {"error", "prompt_tokens", "token_cost"}


def _refill_config(value: int, unit: str) -> str:
    return CLAUDE_CONFIG.replace(
        "  startBalance: 100000\n",
        f"  startBalance: 100000\n  autoRefillEnabled: true\n  refillIntervalValue: {value}\n"
        f"  refillIntervalUnit: {unit}\n  refillAmount: 5000\n",
    )


def test_first_check_creates_start_balance_and_prices_prompt_plus_max_completion(
    make_client: AppFactory,
) -> None:
    client = make_client(CLAUDE_CONFIG)
    response = client.post("/v1/balances/new-user/check", json=estimate())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["allowed"] is True and not DENIAL_KEYS & body.keys()
    assert body["balance"] == body["available_credits"] == "100000"
    assert body["reserved_credits"] == "0"
    assert body["cost"]["lines"]["prompt"]["credits"] == "3000"
    assert body["cost"]["lines"]["completion"] == {"tokens": 200, "rate": "15", "credits": "3000"}
    assert body["cost"]["total_credits"] == str(ESTIMATE_CREDITS)
    rows = client.get("/v1/transactions", params={"user_id": "new-user"}).json()["transactions"]
    assert [r["kind"] for r in rows] == ["start_balance"]
    # Without max_completion_tokens only the input is priced (LibreChat's promptTokens check).
    prompt_only = client.post(
        "/v1/balances/new-user/check", json=estimate(max_completion_tokens=None)
    )
    assert prompt_only.json()["cost"]["total_credits"] == "3000"
    assert reconciles(client)


def test_denial_carries_token_balance_details(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    set_credits(client, "u1", ESTIMATE_CREDITS - 1)
    tokens = {"prompt": 1000, "cache_read": 500}  # cache read 500 x 0.3 = 150 more
    response = client.post("/v1/balances/u1/check", json=estimate(tokens=tokens))
    assert response.status_code == 200
    body = response.json()
    assert body["allowed"] is False and body["error"] == "token_balance"
    assert body["balance"] == "5999" and body["token_cost"] == "6150"
    assert body["prompt_tokens"] == 1500  # input tokens: prompt + cache
    set_credits(client, "u1", 6150)  # exactly enough is allowed (balance >= cost)
    assert client.post("/v1/balances/u1/check", json=estimate(tokens=tokens)).json()["allowed"]


def test_active_holds_reduce_what_a_check_allows(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    set_credits(client, "u1", 10000)
    reserve(client)
    body = client.post("/v1/balances/u1/check", json=estimate()).json()
    assert body["allowed"] is False
    assert (body["balance"], body["reserved_credits"], body["available_credits"]) == (
        "10000",
        "6000",
        "4000",
    )


def test_balances_disabled_always_allows_and_writes_nothing(make_client: AppFactory) -> None:
    client = make_client()  # built-in defaults: balance.enabled is false
    response = client.post(
        "/v1/balances/u1/check",
        json={"endpoint": "openAI", "model": "gpt-4o", "tokens": {"prompt": 10**9}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["allowed"] is True and response.json()["balance"] == "0"
    assert client.get("/v1/balances/u1").status_code == 404


def test_concurrent_first_checks_of_many_users_each_start_once(make_client: AppFactory) -> None:
    """First sight writes in the group committer, where checks arriving together
    share a transaction: every new user still gets startBalance exactly once."""
    client = make_client(CLAUDE_CONFIG)
    users = [f"fresh-{i}" for i in range(8)]
    start = threading.Barrier(24)

    def check(index: int) -> dict[str, Any]:
        start.wait()
        response = client.post(f"/v1/balances/{users[index % 8]}/check", json=estimate())
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(check, range(24)))
    assert {(a["user_id"], a["balance"], a["allowed"]) for a in answers} == {
        (user, "100000", True) for user in users
    }
    rows = client.get("/v1/transactions", params={"limit": 1000}).json()["transactions"]
    assert sorted(r["user_id"] for r in rows if r["kind"] == "start_balance") == sorted(users)
    assert reconciles(client)


def test_due_refill_is_applied_before_deciding(make_client: AppFactory) -> None:
    client = make_client(_refill_config(1, "hours"))
    set_clock(client, T0)
    set_credits(client, "u1", 1000)
    assert client.post("/v1/balances/u1/check", json=estimate()).json()["allowed"] is False
    set_clock(client, T0 + timedelta(hours=1))
    body = client.post("/v1/balances/u1/check", json=estimate()).json()
    assert body["allowed"] is True and body["balance"] == "6000"
    assert client.post("/v1/balances/u1/check", json=estimate()).json()["balance"] == "6000"
    rows = client.get("/v1/transactions", params={"user_id": "u1"}).json()["transactions"]
    assert [r["kind"] for r in rows].count("refill") == 1
    assert reconciles(client)


def test_bad_check_requests(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    unknown = client.post("/v1/balances/u1/check", json=estimate(endpoint="nope"))
    assert unknown.status_code == 422 and unknown.json()["error"] == "unknown_endpoint"
    floats = client.post("/v1/balances/u1/check", json=estimate(tokens={"prompt": 1.5}))
    assert floats.status_code == 422 and floats.json()["error"] == "invalid_request"
    negative = client.post("/v1/balances/u1/check", json=estimate(max_completion_tokens=-1))
    assert negative.status_code == 422
    assert client.get("/v1/balances/u1").status_code == 404  # nothing written


def _refill_rows(url: str, user_id: str) -> tuple[int, list[Any]]:
    engine = create_engine(url)
    with Session(engine) as session:
        count = session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.user_id == user_id, LedgerEntry.kind == "refill")
        )
        mismatches = reconcile(session)
    engine.dispose()
    return int(count or 0), mismatches


def _refill_due_in(url: str, user_id: str, seconds: float, interval: int) -> datetime:
    """Move the user's last refill back so the next one falls due ``seconds`` from now.

    A long interval keeps a slow burst from reaching the following period.
    """
    due = datetime.now(UTC) + timedelta(seconds=seconds)
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        session.execute(
            update(Balance)
            .where(Balance.user_id == user_id)
            .values(last_refill_at=due - timedelta(seconds=interval))
        )
    engine.dispose()
    return due


def test_thirty_concurrent_checks_apply_a_due_refill_once(
    db_url: str, write_config: Any, live_server: LiveServer
) -> None:
    """Real clock: the refill falls due, then 30 checks hit four workers at once."""
    interval = 600
    config: Path = write_config(_refill_config(interval, "seconds"))
    workers = 4 if db_url.startswith("postgresql") else 2
    with live_server(db_url, config=config, workers=workers) as base:
        with httpx.Client(base_url=base, timeout=60) as http:
            assert http.post("/v1/balances/racer/check", json=estimate()).status_code == 200
        due = _refill_due_in(db_url, "racer", 1.0, interval)
        start = threading.Barrier(30)

        def check(_: int) -> dict[str, Any]:
            with httpx.Client(base_url=base, timeout=60) as http:
                http.get("/healthz")  # connect before the barrier
                start.wait()
                response = http.post("/v1/balances/racer/check", json=estimate())
                assert response.status_code == 200, response.text
                body: dict[str, Any] = response.json()
                return body

        time.sleep(max((due - datetime.now(UTC)).total_seconds() + 0.1, 0))
        with ThreadPoolExecutor(30) as pool:
            answers = list(pool.map(check, range(30)))
    assert {a["balance"] for a in answers} == {"105000"}
    refills, mismatches = _refill_rows(db_url, "racer")
    assert refills == 1 and mismatches == []
