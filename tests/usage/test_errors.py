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
    assert response.json() == {
        "error": "invalid_request",
        "detail": "events: a batch holds at most 5 events, got 6",
    }
    # The events are checked before their count: a bad one is named first.
    bad = [*(event(f"e{i}") for i in range(5)), event("e5", tokens={"prompt": -1})]
    fields = client.post("/v1/usage", json={"events": bad}).json()["fields"]
    assert [f["loc"] for f in fields] == ["events[5].tokens.prompt"]
    assert client.get("/v1/transactions").json()["transactions"] == []


def test_empty_batch(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    response = client.post("/v1/usage", json={"events": []})
    assert response.status_code == 422
    assert response.json() == {"error": "invalid_request", "detail": "events: must not be empty"}


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


def test_a_single_events_errors_do_not_name_an_index(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    for payload, loc in (
        (event("s", endpoint="Nope"), "endpoint"),
        (event("s", occurred_at="2999-01-01T00:00:00Z"), "occurred_at"),
        (event("s", tokens={"prompt": -1}), "tokens.prompt"),
        (event("s", provider_usage={"format": "openai", "usage": {}}), "body"),
    ):
        body = client.post("/v1/usage", json=payload).json()
        assert "events" not in body["detail"], body
        assert [f["loc"] for f in body["fields"]] == [loc], body
        assert not body["fields"][0]["message"].startswith(loc + ":"), body


def test_batch_errors_name_the_event(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    for bad, loc in (
        (event("b1", endpoint="Nope"), "events[1].endpoint"),
        (event("b1", occurred_at="2999-01-01T00:00:00Z"), "events[1].occurred_at"),
        (event("b1", tokens={"prompt": -1}), "events[1].tokens.prompt"),
    ):
        response = client.post("/v1/usage", json={"events": [event("b0"), bad]})
        assert response.status_code == 422
        body = response.json()
        assert body["detail"].startswith("events[1]"), body
        assert [f["loc"] for f in body["fields"]] == [loc], body
    assert client.get("/v1/transactions").json()["transactions"] == []


def test_validation_messages_are_for_people(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    both = client.post(
        "/v1/usage", json=event("x", provider_usage={"format": "openai", "usage": {}})
    )
    assert both.json()["fields"] == [
        {"loc": "body", "message": "send either tokens or provider_usage, not both"}
    ]
    control = client.post("/v1/usage", json=event("ctl\x01id")).json()
    assert control["detail"] == "event_id: must not contain control characters"
    extra = client.post("/v1/usage", json=event("x", userId="camel")).json()
    assert extra["fields"][0]["loc"] == "userId"
    assert "unknown field" in extra["fields"][0]["message"]


@pytest.mark.parametrize(
    ("sent", "suggested"),
    [
        ("claude-compatible", "Claude-Compatible"),
        ("Claude-Compatable", "Claude-Compatible"),
        ("locl", "Local"),
    ],
)
def test_unknown_endpoint_suggests_the_closest_name(
    make_client: AppFactory, sent: str, suggested: str
) -> None:
    client = make_client(CLAUDE_CONFIG)
    for path in ("/v1/usage", "/v1/quote"):
        body = client.post(path, json=event("e", endpoint=sent)).json()
        assert body["error"] == "unknown_endpoint"
        assert f"did you mean '{suggested}'?" in body["detail"], body
        assert "configured: " in body["detail"] and "Local" in body["detail"], body
        assert body["fields"][0]["loc"] == "endpoint"


def test_unknown_endpoint_among_many_points_to_the_list(make_client: AppFactory) -> None:
    endpoints = "\n".join(
        f"    - {{name: Provider{i}, apiKey: k, baseURL: 'http://127.0.0.1:1/v1', "
        f"models: {{default: [m]}}}}"
        for i in range(12)
    )
    client = make_client(f"endpoints:\n  custom:\n{endpoints}\n")
    detail = client.post("/v1/quote", json=event("e", endpoint="Provider1x")).json()["detail"]
    assert "did you mean 'Provider1'?" in detail
    assert "20 are configured: GET /api/endpoints lists them" in detail
    assert "Provider11" not in detail
    nothing_close = client.post("/v1/quote", json=event("e", endpoint="zzz")).json()["detail"]
    assert "did you mean" not in nothing_close


def test_occurred_at_outside_the_window_states_the_window(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    for when in ("2999-01-01T00:00:00Z", "2000-01-01T00:00:00Z"):
        body = client.post("/v1/usage", json=event("t", occurred_at=when)).json()
        assert "at most 3660 days before and 1 day after the server's time" in body["detail"]
        assert when[:10] in body["detail"]
