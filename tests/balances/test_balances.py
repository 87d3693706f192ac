"""Grants, set, listing, transactions paging, refills, reconcile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from billing.balances.service import reconcile
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event

REFILL_CONFIG = CLAUDE_CONFIG.replace(
    "  startBalance: 100000\n",
    "  startBalance: 100000\n  autoRefillEnabled: true\n  refillIntervalValue: 1\n"
    "  refillIntervalUnit: hours\n  refillAmount: 5000\n",
)


def _reconciles(client: TestClient) -> bool:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        return reconcile(session) == []


def test_grant_is_idempotent_by_key(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    body = {"amount": "5000.5", "reason": "promo", "idempotency_key": "promo-1"}
    first = client.post("/v1/balances/u1/credits", json=body)
    assert first.status_code == 200, first.text
    assert first.json()["credits"] == "105000.5"
    again = client.post("/v1/balances/u1/credits", json=body)
    assert again.json()["credits"] == "105000.5"
    conflict = client.post("/v1/balances/u1/credits", json={**body, "amount": "1"})
    assert conflict.status_code == 409 and conflict.json()["error"] == "conflict"
    deduct = client.post("/v1/balances/u1/credits", json={"amount": "-0.5"})
    assert deduct.json()["credits"] == "105000"
    assert _reconciles(client)


def test_grant_rejects_junk(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    for amount in ("1e3", "NaN", "", "0", " 5", True, None, [1], {"value": 1}):
        response = client.post("/v1/balances/u1/credits", json={"amount": amount})
        assert response.status_code == 422, amount
        assert "amount" in response.json()["detail"]


def test_set_balance_records_the_difference(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    client.post("/v1/usage", json=event("e1"))
    response = client.put("/v1/balances/u1", json={"credits": "20000", "reason": "reset"})
    assert response.json()["credits"] == "20000"
    rows = client.get("/v1/transactions", params={"user_id": "u1"}).json()["transactions"]
    assert rows[0]["kind"] == "set" and rows[0]["credits"] == "-68750"
    assert _reconciles(client)


def test_list_balances_pages(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    for i in range(5):
        client.post(f"/v1/balances/user-{i}/credits", json={"amount": "1"})
    first = client.get("/v1/balances", params={"limit": 2}).json()
    assert [b["user_id"] for b in first["balances"]] == ["user-0", "user-1"]
    second = client.get("/v1/balances", params={"limit": 2, "cursor": first["next_cursor"]})
    assert [b["user_id"] for b in second.json()["balances"]] == ["user-2", "user-3"]


def test_transactions_cursor_and_filters(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    for i in range(3):
        client.post("/v1/usage", json=event(f"t{i}", conversation_id=f"c{i % 2}"))
    seen = []
    cursor = None
    while True:
        params = {"user_id": "u1", "limit": 4} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/transactions", params=params).json()
        seen.extend(row["id"] for row in page["transactions"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 13  # start balance + 3 events x 4 lines
    assert seen == sorted(seen, reverse=True)
    c0 = client.get("/v1/transactions", params={"conversation_id": "c0"}).json()
    assert len(c0["transactions"]) == 8
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert client.get("/v1/transactions", params={"since": future}).json()["transactions"] == []


def test_auto_refill_once_per_due_interval(make_client: AppFactory) -> None:
    client = make_client(REFILL_CONFIG)
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    runtime.clock = lambda: start
    client.post("/v1/usage", json=event("r1", occurred_at=start.isoformat()))
    assert client.get("/v1/balances/u1").json()["credits"] == "88750"
    runtime.clock = lambda: start + timedelta(minutes=59)
    client.post("/v1/usage", json=event("r2", tokens={"prompt": 0}, occurred_at=start.isoformat()))
    assert client.get("/v1/balances/u1").json()["credits"] == "88750"
    later = start + timedelta(hours=5)
    runtime.clock = lambda: later
    body = client.post(
        "/v1/usage", json=event("r3", tokens={"prompt": 0}, occurred_at=later.isoformat())
    ).json()
    assert body["events"][0]["balance"] == "93750"  # one refill of 5000
    balance = client.get("/v1/balances/u1").json()
    assert balance["auto_refill"]["enabled"] is True
    assert balance["auto_refill"]["amount"] == "5000"
    assert balance["auto_refill"]["next_refill_at"].startswith("2026-11-01T18:00")
    refills = [
        r
        for r in client.get("/v1/transactions", params={"user_id": "u1"}).json()["transactions"]
        if r["kind"] == "refill"
    ]
    assert len(refills) == 1 and refills[0]["context"] == "autoRefill"
    assert _reconciles(client)
