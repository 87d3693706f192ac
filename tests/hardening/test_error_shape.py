"""One error shape on every route and every kind of failure.

``{"error", "detail"}``, plus ``"fields": [{"loc", "message"}]`` for
validation; compact JSON; messages for people (no pydantic prefixes, no
regexes). Routes are found at run time, so new routes are covered too.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from billing.api.json_body import StrictJsonRoute
from tests.conftest import AppFactory
from tests.hardening.routes import CONSOLE_PREFIX, _contexts, all_routes
from tests.hardening.support import ALL_KEYS, WITH_SCOPE, WITHOUT_SCOPE, bearer
from tests.helpers import CLAUDE_CONFIG, event

# What a person should never have to read in an error message.
_MACHINE_WORDING = ("Value error,", "Assertion failed,", "^", "\\x", "\\d", "Field required")


def assert_error_shape(
    response: httpx.Response, status: int | tuple[int, ...], case: str = ""
) -> dict[str, Any]:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (case, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), case
    body: dict[str, Any] = response.json()
    assert set(body) <= {"error", "detail", "fields"}, (case, body)
    assert isinstance(body["error"], str) and body["error"], (case, body)
    assert isinstance(body["detail"], str) and body["detail"], (case, body)
    compact = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert response.content == compact, (case, response.content[:300])
    texts = [body["detail"]]
    for field in body.get("fields", []):
        assert set(field) == {"loc", "message"}, (case, field)
        assert isinstance(field["loc"], str) and field["loc"], (case, field)
        assert isinstance(field["message"], str) and field["message"], (case, field)
        texts.append(field["message"])
    for text in texts:
        for wording in _MACHINE_WORDING:
            assert wording not in text, (case, wording, text)
    return body


def _body_routes(app: FastAPI) -> list[APIRoute]:
    found = []
    for context in _contexts(app):
        route = getattr(context, "original_route", context)
        if isinstance(route, APIRoute) and route.body_field is not None:
            found.append(route)
    return found


def test_every_route_with_a_json_body_parses_numbers_exactly(client: TestClient) -> None:
    """FastAPI body parameters get the strict, exact parse (money as JSON numbers)."""
    routes = _body_routes(client.app)  # type: ignore[arg-type]
    assert {r.path for r in routes} >= {"/v1/quote", "/v1/balances/{user_id}/credits"}
    for route in routes:
        assert isinstance(route, StrictJsonRoute), (
            f"{route.path}: declare its router with route_class=StrictJsonRoute"
        )


def test_validation_errors_have_the_shape_on_every_route(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG, api_keys=ALL_KEYS)
    admin = bearer(WITH_SCOPE["admin"])
    checked = 0
    for route in all_routes(client.app):  # type: ignore[arg-type]
        if route.path.startswith(CONSOLE_PREFIX):
            continue  # HTML pages for people, not the API (tests/console)
        case = f"{route.method} {route.path}"
        if route.path.startswith("/gateway/"):
            continue  # the provider's error shape (billing/gateway/errors.py, tests/gateway)
        if "{" in route.path:  # a path parameter with a control character
            response = client.request(route.method, route.url("ctl%01id"), headers=admin)
            body = assert_error_shape(response, (404, 422), case)
            if "fields" in body and body["fields"][0]["loc"] in route.path:
                assert body["fields"][0]["message"] == "must not contain control characters", case
                checked += 1
        if route.method in ("POST", "PUT", "PATCH"):  # a field that does not exist
            response = client.request(
                route.method, route.url(), json={"no_such_field": 1}, headers=admin
            )
            if response.status_code == 422:  # bodiless routes ignore it
                body = assert_error_shape(response, 422, case)
                assert "no_such_field" in body["detail"], (case, body)
                checked += 1
    assert checked >= 8


def test_routing_auth_and_body_refusals_have_the_shape(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG, api_keys=ALL_KEYS, max_body_bytes=1024)
    ingest = bearer(WITH_SCOPE["ingest"])
    unknown = assert_error_shape(client.get("/v1/nothing-here", headers=ingest), 404)
    assert unknown["error"] == "not_found" and "/v1/nothing-here" in unknown["detail"]
    wrong_method = client.delete("/v1/usage", headers=ingest)
    assert "POST" in assert_error_shape(wrong_method, 405)["detail"]
    assert wrong_method.headers["allow"] == "POST"
    assert assert_error_shape(client.post("/v1/usage", json=event("a")), 401)["error"] == (
        "unauthorized"
    )
    lacking = client.post("/v1/usage", json=event("a"), headers=bearer(WITHOUT_SCOPE["ingest"]))
    assert assert_error_shape(lacking, 403)["error"] == "forbidden"
    too_big = client.post("/v1/usage", json=event("a", model="m" * 2000), headers=ingest)
    assert assert_error_shape(too_big, 413)["error"] == "payload_too_large"
    not_json = client.post("/v1/usage", content=b"a=1", headers={**ingest, "content-type": "x/y"})
    assert_error_shape(not_json, 415)
    bad_json = client.post(
        "/v1/usage", content=b'{"a": 1,}', headers={**ingest, "content-type": "application/json"}
    )
    assert "invalid JSON" in assert_error_shape(bad_json, 422)["detail"]
    assert client.get("/v1/transactions").status_code == 401  # nothing was let through


def test_an_unexpected_failure_is_a_json_500_without_internals(make_client: AppFactory) -> None:
    app: FastAPI = make_client(CLAUDE_CONFIG).app  # type: ignore[assignment]

    @app.get("/test-only/fails")
    def fails() -> None:
        raise RuntimeError("secret internal state")

    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/test-only/fails", headers={"x-request-id": "fails-0001"})
    body = assert_error_shape(response, 500)
    assert body["error"] == "internal" and "secret" not in body["detail"]
    # Answered inside HttpFront (billing/api/front.py): its id, to quote, and config version.
    assert response.headers["x-request-id"] == "fails-0001"
    assert response.headers["x-billing-config-version"]


def test_a_trailing_slash_is_the_same_route_not_a_redirect(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    response = client.post("/v1/usage/", json=event("slash"), follow_redirects=False)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    balance = client.get("/v1/balances/u1/", follow_redirects=False)
    assert balance.status_code == 200 and balance.json()["user_id"] == "u1"
    missing = client.post("/v1/nothing/", json={}, follow_redirects=False)
    assert assert_error_shape(missing, 404)["error"] == "not_found"
