"""POST /v1/quote over HTTP: the cost object of docs/api.md, nothing written."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG

WORKED = {"prompt": 1000, "completion": 200, "cache_write": 1000, "cache_read": 5000}


def test_worked_example_via_token_config(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    response = client.post(
        "/v1/quote",
        json={"endpoint": "Claude-Compatible", "model": "claude-sonnet-4-5", "tokens": WORKED},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "endpoint": "Claude-Compatible",
        "model": "claude-sonnet-4-5",
        "value_key": "claude-sonnet-4-5",
        "priced_by": "token_config",
        "context": "message",
        "lines": {
            "prompt": {"tokens": 1000, "rate": "3", "credits": "3000"},
            "completion": {"tokens": 200, "rate": "15", "credits": "3000"},
            "cache_write": {"tokens": 1000, "rate": "3.75", "credits": "3750"},
            "cache_read": {"tokens": 5000, "rate": "0.3", "credits": "1500"},
        },
        "total_credits": "11250",
        "total_usd": "0.01125",
    }
    assert client.get("/v1/transactions").json()["transactions"] == []


def test_builtin_tables_and_fallback(client: TestClient) -> None:
    body = client.post(
        "/v1/quote",
        json={"endpoint": "openAI", "model": "gpt-4o-mini-2024-07-18", "tokens": {"prompt": 1000}},
    ).json()
    assert body["value_key"] == "gpt-4o-mini" and body["priced_by"] == "default"
    assert body["lines"]["prompt"]["credits"] == "150"
    unknown = client.post(
        "/v1/quote",
        json={"endpoint": "openAI", "model": "totally-new-model", "tokens": {"completion": 10}},
    ).json()
    assert unknown["priced_by"] == "fallback" and unknown["value_key"] is None
    assert unknown["total_credits"] == "60"


def test_incomplete_context_floors_completion(client: TestClient) -> None:
    body = client.post(
        "/v1/quote",
        json={
            "endpoint": "openAI",
            "model": "gpt-4o",
            "context": "incomplete",
            "tokens": {"completion": 7},
        },
    ).json()
    # 7 x 10 x 1.15 = 80.5 -> floor 80 credits
    assert body["lines"]["completion"]["credits"] == "80"


def test_quote_with_provider_usage(client: TestClient) -> None:
    body = client.post(
        "/v1/quote",
        json={
            "endpoint": "openAI",
            "model": "gpt-4o",
            "provider_usage": {
                "format": "openai",
                "usage": {
                    "prompt_tokens": 1200,
                    "completion_tokens": 100,
                    "prompt_tokens_details": {"cached_tokens": 1000},
                },
            },
        },
    ).json()
    assert body["lines"]["prompt"]["tokens"] == 200
    assert body["lines"]["cache_read"]["tokens"] == 1000


def test_quote_errors(client: TestClient) -> None:
    unknown = client.post("/v1/quote", json={"endpoint": "nope", "model": "m"})
    assert unknown.status_code == 422 and unknown.json()["error"] == "unknown_endpoint"
    both = client.post(
        "/v1/quote",
        json={
            "endpoint": "openAI",
            "model": "gpt-4o",
            "tokens": {"prompt": 1},
            "provider_usage": {"format": "openai", "usage": {}},
        },
    )
    assert both.status_code == 422 and both.json()["error"] == "invalid_request"
    missing = client.post("/v1/quote", json={"model": "gpt-4o"})
    assert missing.status_code == 422 and "endpoint" in missing.json()["detail"]
    bad_format = client.post(
        "/v1/quote",
        json={"endpoint": "openAI", "model": "m", "provider_usage": {"format": "x", "usage": {}}},
    )
    assert bad_format.status_code == 422 and "provider_usage.format" in bad_format.json()["detail"]


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
