"""POST /v1/usage over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient

from billing.balances.service import reconcile
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event


def _app(make_client: AppFactory, **overrides: object) -> TestClient:
    return make_client(CLAUDE_CONFIG, **overrides)


def _reconciles(client: TestClient) -> bool:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        return reconcile(session) == []


def test_single_event_is_charged_with_start_balance(make_client: AppFactory) -> None:
    client = _app(make_client)
    response = client.post("/v1/usage", json=event("e1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1 and body["duplicates"] == 0
    result = body["events"][0]
    assert result["status"] == "accepted"
    assert result["cost"]["total_credits"] == "11250"
    assert result["cost"]["total_usd"] == "0.01125"
    assert result["balance"] == "88750"  # startBalance 100000 - 11250

    balance = client.get("/v1/balances/u1").json()
    assert balance["credits"] == "88750"
    assert balance["usd"] == "0.08875"
    rows = client.get("/v1/transactions", params={"user_id": "u1"}).json()["transactions"]
    kinds = sorted((r["kind"], r["token_type"], r["credits"]) for r in rows)
    assert kinds == [
        ("start_balance", "credits", "100000"),
        ("usage", "cache_read", "-1500"),
        ("usage", "cache_write", "-3750"),
        ("usage", "completion", "-3000"),
        ("usage", "prompt", "-3000"),
    ]
    usage_rows = [r for r in rows if r["kind"] == "usage"]
    assert {r["rate"] for r in usage_rows} == {"3", "15", "3.75", "0.3"}
    assert all(r["value_key"] == "claude-sonnet-4-5" for r in usage_rows)
    assert all(r["priced_by"] == "token_config" for r in usage_rows)
    assert _reconciles(client)


def test_duplicate_charges_once_and_answers_duplicate(make_client: AppFactory) -> None:
    client = _app(make_client)
    first = client.post("/v1/usage", json=event("dup-1")).json()
    second = client.post("/v1/usage", json=event("dup-1")).json()
    assert second["accepted"] == 0 and second["duplicates"] == 1
    assert second["events"][0]["status"] == "duplicate"
    assert second["events"][0]["cost"] == first["events"][0]["cost"]
    assert second["events"][0]["balance"] == "88750"
    assert client.get("/v1/balances/u1").json()["credits"] == "88750"


def test_batch_with_repeat_inside_and_several_users(make_client: AppFactory) -> None:
    client = _app(make_client)
    batch = {"events": [event("b1", "u1"), event("b2", "u2"), event("b1", "u1")]}
    body = client.post("/v1/usage", json=batch).json()
    assert [e["status"] for e in body["events"]] == ["accepted", "accepted", "duplicate"]
    assert body["accepted"] == 2 and body["duplicates"] == 1
    assert client.get("/v1/balances/u1").json()["credits"] == "88750"
    assert client.get("/v1/balances/u2").json()["credits"] == "88750"
    assert _reconciles(client)


def test_batch_is_all_or_nothing(make_client: AppFactory) -> None:
    client = _app(make_client)
    batch = {"events": [event("ok-1"), event("bad-1", endpoint="NoSuchEndpoint")]}
    response = client.post("/v1/usage", json=batch)
    assert response.status_code == 422
    assert response.json()["error"] == "unknown_endpoint"
    assert "events[1]" in response.json()["detail"]
    assert client.get("/v1/balances/u1").status_code == 404
    # The good event was not recorded: posting it now accepts it.
    assert client.post("/v1/usage", json=event("ok-1")).json()["accepted"] == 1


def test_spend_beyond_balance_is_recorded_in_full(make_client: AppFactory) -> None:
    client = _app(make_client)
    big = event("big", tokens={"prompt": 0, "completion": 10_000})  # 150000 credits
    body = client.post("/v1/usage", json=big).json()
    assert body["events"][0]["balance"] == "-50000"
    assert _reconciles(client)


def test_free_endpoint_records_tokens_at_zero_cost(make_client: AppFactory) -> None:
    client = _app(make_client)
    body = client.post(
        "/v1/usage", json=event("free-1", endpoint="Local", model="llama3.1:8b")
    ).json()
    cost = body["events"][0]["cost"]
    assert cost["priced_by"] == "free" and cost["total_credits"] == "0"
    assert body["events"][0]["balance"] == "100000"


def test_provider_usage_is_normalised(make_client: AppFactory) -> None:
    client = _app(make_client)
    anthropic = {
        "input_tokens": 1000,
        "output_tokens": 200,
        "cache_creation_input_tokens": 1000,
        "cache_read_input_tokens": 5000,
    }
    payload = event("prov-1")
    del payload["tokens"]
    payload["provider_usage"] = {"format": "anthropic", "usage": anthropic}
    body = client.post("/v1/usage", json=payload).json()
    assert body["events"][0]["cost"]["total_credits"] == "11250"


def test_balance_disabled_records_usage_without_start_balance(make_client: AppFactory) -> None:
    config = CLAUDE_CONFIG.replace(
        "enabled: true\n  startBalance", "enabled: false\n  startBalance"
    )
    client = make_client(config)
    body = client.post("/v1/usage", json=event("nb-1")).json()
    assert body["events"][0]["balance"] == "-11250"
    rows = client.get("/v1/transactions", params={"user_id": "u1"}).json()["transactions"]
    assert {r["kind"] for r in rows} == {"usage"}
    assert _reconciles(client)


def test_transactions_disabled_records_nothing_but_dedups(make_client: AppFactory) -> None:
    config = CLAUDE_CONFIG.replace(
        "balance:\n  enabled: true", "balance:\n  enabled: false"
    ).replace("transactions:\n  enabled: true", "transactions:\n  enabled: false")
    client = make_client(config)
    first = client.post("/v1/usage", json=event("nt-1")).json()
    assert first["accepted"] == 1 and first["events"][0]["balance"] is None
    assert client.post("/v1/usage", json=event("nt-1")).json()["duplicates"] == 1
    assert client.get("/v1/transactions").json()["transactions"] == []


def test_fractional_rates_are_exact(make_client: AppFactory) -> None:
    client = make_client(
        """
endpoints:
  openAI:
    tokenConfig:
      tiny:
        prompt: 0.0000007
        completion: 0.1
        context: 1000
"""
    )
    body = client.post(
        "/v1/usage",
        json={
            "event_id": "f1",
            "user_id": "u9",
            "endpoint": "openAI",
            "model": "tiny",
            "tokens": {"prompt": 3, "completion": 7},
        },
    ).json()
    cost = body["events"][0]["cost"]
    # 3 x 0.0000007 = 0.0000021 credits -> rounds half-even to 0.000002
    assert cost["lines"]["prompt"]["credits"] == "0.000002"
    assert cost["lines"]["completion"]["credits"] == "0.7"
    assert Decimal(cost["total_credits"]) == Decimal("0.700002")
