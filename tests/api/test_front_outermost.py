"""HttpFront is the app's outermost layer (billing/api/front.py, ``front_first``).

So an unexpected error's 500 carries the request id and the config version
like every other answer (a FastAPI route's: tests/hardening/test_error_shape.py;
a hot route's: here) and is counted. A body that breaks HttpFront's rules is
answered 408 or 413 by HttpFront, not 500 by the FastAPI ServerErrorMiddleware
inside it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from billing.usage import service
from tests.api.test_hot_path import refuses_too_large_and_too_slow
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event
from tests.hot_path_support import counting_app_requests
from tests.metrics.scrape import parse, total

REQUEST_ID = "front-test-0001"


def _internal(response: Any) -> None:
    assert response.status_code == 500
    assert response.json()["error"] == "internal"
    assert "secret" not in response.text
    assert response.headers["x-request-id"] == REQUEST_ID
    assert response.headers["x-billing-config-version"]


def _answered_500(client: TestClient, path: str) -> float:
    scraped = parse(client.get("/metrics").text)
    name = "billing_http_request_duration_seconds_count"
    return total(scraped, name, method="POST", route=path, status="500")


def test_a_hot_route_that_fails_answers_500_with_the_request_id(
    make_client: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hot path answers the failure itself (the FastAPI route is not run)."""
    client = make_client(CLAUDE_CONFIG)
    before = _answered_500(client, "/v1/usage")

    def fails(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal state")

    monkeypatch.setattr(service, "record_requests", fails)
    failing = TestClient(client.app, raise_server_exceptions=False)
    with counting_app_requests() as reached_app:
        response = failing.post("/v1/usage", json=event("f1"), headers={"x-request-id": REQUEST_ID})
    _internal(response)
    assert reached_app == []
    assert _answered_500(client, "/v1/usage") == before + 1


def test_a_route_reading_a_body_too_large_or_too_slow_gets_413_or_408(
    make_client: AppFactory,
) -> None:
    """/v1/quote is no hot route: its body is read inside FastAPI's layers, whose
    ServerErrorMiddleware answers 500 to the refusal HttpFront raises; HttpFront
    drops that answer for its own."""
    client = make_client(CLAUDE_CONFIG, max_body_bytes=1024, body_timeout_seconds=0.2)
    quote = {"endpoint": "anthropic", "model": "claude-sonnet-4-5", "tokens": {"prompt": 10}}
    with counting_app_requests() as reached_app:
        big = json.dumps({**quote, "padding": "x" * 1500}).encode()
        refuses_too_large_and_too_slow(client, "/v1/quote", big)
    assert reached_app == ["/v1/quote", "/v1/quote"]  # both read by the FastAPI route
    assert client.post("/v1/quote", json=quote).status_code == 200
