"""Bad input: clear 4xx with the docs/api.md error shape, and nothing written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event


def _tokens(**tokens: Any) -> dict[str, Any]:
    return event("bad", tokens=tokens)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (_tokens(prompt=-1), "tokens.prompt"),
        (_tokens(prompt=1.5), "tokens.prompt"),
        (_tokens(prompt="10"), "tokens.prompt"),
        (_tokens(prompt=2**70), "tokens.prompt"),
        (_tokens(cached=10), "tokens.cached"),
        ({k: v for k, v in event("x").items() if k != "user_id"}, "user_id"),
        ({k: v for k, v in event("x").items() if k != "event_id"}, "event_id"),
        (event(""), "event_id"),
        (event("x" * 201), "event_id"),
        (event("x", userId="camel"), "userId"),
        (event("ctl\x01id"), "event_id"),
    ],
)
def test_invalid_events_are_422_naming_the_field(
    make_client: AppFactory, payload: dict[str, Any], field: str
) -> None:
    client = make_client(CLAUDE_CONFIG)
    response = client.post("/v1/usage", json=payload)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert field in body["detail"]
    assert client.get("/v1/transactions").json()["transactions"] == []


def test_unknown_endpoint(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    response = client.post("/v1/usage", json=event("e", endpoint="Nope"))
    assert response.status_code == 422
    assert response.json()["error"] == "unknown_endpoint"
    assert "endpoint" in response.json()["detail"]


def test_batch_over_the_limit(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG, max_batch_events=5)
    response = client.post("/v1/usage", json={"events": [event(f"e{i}") for i in range(6)]})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert "events" in response.json()["detail"]


def test_empty_batch(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    response = client.post("/v1/usage", json={"events": []})
    assert response.status_code == 422


def test_occurred_at_far_future(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    response = client.post("/v1/usage", json=event("t", occurred_at="2999-01-01T00:00:00Z"))
    assert response.status_code == 422
    assert "occurred_at" in response.json()["detail"]


def test_unknown_user_is_404(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    response = client.get("/v1/balances/nobody")
    assert response.status_code == 404
    assert response.json() == {
        "error": "user_not_found",
        "detail": "no balance for user_id 'nobody'",
    }


def test_oversized_body_is_413(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG, max_body_bytes=2048)
    response = client.post("/v1/usage", json=event("big", model="m" * 5000))
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_malformed_json(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    response = client.post(
        "/v1/usage", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
