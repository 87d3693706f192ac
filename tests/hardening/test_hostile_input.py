"""Hostile request bodies: each is a 4xx in the docs/api.md error shape, and nothing is written.

Cases are grouped (one app per group) to keep the suite fast; each assertion
names its case.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import AppFactory, LiveServer
from tests.hardening.support import assert_refused, nothing_written
from tests.helpers import CLAUDE_CONFIG, event

JSON = {"content-type": "application/json"}
MEGABYTE = "x" * (1024 * 1024)


def _with_tokens(**tokens: Any) -> dict[str, Any]:
    return event("hostile", tokens=tokens)


def _post_raw(client: TestClient, body: bytes, path: str = "/v1/usage") -> httpx.Response:
    return client.post(path, content=body, headers=JSON)


# (case name, body, field the detail must name)
NUMBER_CASES = [
    ("64-bit overflow", _with_tokens(prompt=2**64 + 1), "tokens.prompt"),
    ("128-bit integer", _with_tokens(completion=2**127), "tokens.completion"),
    ("negative", _with_tokens(prompt=-1), "tokens.prompt"),
    ("large negative", _with_tokens(cache_read=-(2**63) - 1), "tokens.cache_read"),
    ("fraction", _with_tokens(completion=0.5), "tokens.completion"),
    ("float with zero fraction", _with_tokens(prompt=1.0), "tokens.prompt"),
    ("exponent", _with_tokens(cache_write=1e3), "tokens.cache_write"),
    ("string number", _with_tokens(prompt="10"), "tokens.prompt"),
    ("boolean", _with_tokens(prompt=True), "tokens.prompt"),
    ("null", _with_tokens(prompt=None), "tokens.prompt"),
]

STRING_CASES = [
    ("1 MB event_id", event(MEGABYTE), "event_id"),
    ("1 MB user_id", event("e", user_id=MEGABYTE), "user_id"),
    ("1 MB model", event("e", model=MEGABYTE), "model"),
    ("1 MB endpoint", event("e", endpoint=MEGABYTE), "endpoint"),
    ("1 MB context", event("e", context=MEGABYTE), "context"),
    ("1 MB conversation_id", event("e", conversation_id=MEGABYTE), "conversation_id"),
    ("NUL in event_id", event("a\x00b"), "event_id"),
    ("newline in user_id", event("e", user_id="u\n1"), "user_id"),
    ("DEL in message_id", event("e", message_id="m\x7f"), "message_id"),
    ("escape in conversation_id", event("e", conversation_id="\x1b[31mred"), "conversation_id"),
    ("tab in model", event("e", model="claude\tsonnet"), "model"),
    ("object as event_id", event({"$gt": ""}), "event_id"),  # type: ignore[arg-type]
    ("list as user_id", event("e", user_id=["u1"]), "user_id"),
]

TIME_CASES = [
    ("year 1", event("t", occurred_at="0001-01-01T00:00:00Z"), "occurred_at"),
    ("year 1970", event("t", occurred_at="1970-01-01T00:00:00Z"), "occurred_at"),
    ("year 9999", event("t", occurred_at="9999-12-31T23:59:59Z"), "occurred_at"),
    ("year 10000", event("t", occurred_at="10000-01-01T00:00:00Z"), "occurred_at"),
    ("month 13", event("t", occurred_at="2026-13-01T00:00:00Z"), "occurred_at"),
    ("no time zone", event("t", occurred_at="2026-01-01T00:00:00"), "occurred_at"),
    ("epoch overflow", event("t", occurred_at=2**70), "occurred_at"),
    ("huge offset", event("t", occurred_at="2026-01-01T00:00:00+99:00"), "occurred_at"),
]

# Raw bodies the JSON parser itself must refuse (never a 500, never a half-parse).
RAW_CASES = [
    (
        "NaN",
        b'{"event_id": "n", "user_id": "u", "endpoint": "openAI", "model": "gpt-4o",'
        b' "tokens": {"prompt": NaN}}',
        "NaN",
    ),
    ("Infinity", b'{"tokens": {"prompt": Infinity}}', "Infinity"),
    ("-Infinity", b'{"tokens": {"prompt": -Infinity}}', "-Infinity"),
    ("duplicate key", b'{"event_id": "a", "event_id": "b", "user_id": "u"}', "event_id"),
    ("nested duplicate", b'{"tokens": {"prompt": 1, "prompt": 2}}', "prompt"),
    ("invalid UTF-8", b'{"event_id": "\xff\xfe", "user_id": "u"}', "UTF-8"),
    ("overlong UTF-8", b'{"event_id": "\xc0\xaf"}', "UTF-8"),
    ("lone surrogate bytes", b'{"event_id": "\xed\xa0\x80"}', "UTF-8"),
    ("100,000 levels of arrays", b"[" * 100_000 + b"]" * 100_000, "nested"),
    ("100,000 levels of objects", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested"),
    ("5,000-digit integer", b'{"tokens": {"prompt": ' + b"9" * 5000 + b"}}", "body"),
    ("exponent beyond Decimal", b'{"tokens": {"prompt": 1e9999999999999999999}}', "out of range"),
    ("truncated", b'{"event_id": "a", ', "body"),
    ("trailing garbage", b'{"event_id": "a"} {}', "body"),
    ("bare string", b'"event"', "body"),
    ("empty object", b"{}", ": required"),
    ("array of events", b"[]", "body"),
]


@pytest.fixture
def app_client(make_client: AppFactory) -> TestClient:
    return make_client(CLAUDE_CONFIG)


def test_bad_numbers_are_refused(app_client: TestClient, db_url: str) -> None:
    for name, body, field in NUMBER_CASES:
        for path in ("/v1/usage", "/v1/quote"):
            response = app_client.post(path, json=body)
            assert_refused(response, 422, "invalid_request", field, case=name)
    assert nothing_written(db_url)


def test_bad_strings_and_control_characters_are_refused(
    app_client: TestClient, db_url: str
) -> None:
    for name, body, field in STRING_CASES:
        response = app_client.post("/v1/usage", json=body)
        refused = assert_refused(response, 422, "invalid_request", field, case=name)
        assert len(response.content) < 20_000, f"{name}: the refusal echoes the input"
        assert MEGABYTE not in refused["detail"]
    assert nothing_written(db_url)


def test_control_characters_in_path_ids_are_refused_or_unknown(
    app_client: TestClient, db_url: str
) -> None:
    for raw_id in ("%00", "u%0A1", "%1B%5B31m", "x" * 5000):
        balance = app_client.get(f"/v1/balances/{raw_id}")
        assert_refused(balance, (404, 422), balance.json().get("error", "?"))
        assert balance.json()["error"] in ("user_not_found", "invalid_request")
        grant = app_client.post(f"/v1/balances/{raw_id}/credits", json={"amount": "5"})
        assert_refused(grant, 422, "invalid_request", "user_id")
    assert nothing_written(db_url)


def test_absurd_timestamps_are_refused(app_client: TestClient, db_url: str) -> None:
    for name, body, field in TIME_CASES:
        response = app_client.post("/v1/usage", json=body)
        assert_refused(response, 422, "invalid_request", field, case=name)
    assert nothing_written(db_url)


def test_bodies_the_json_parser_must_refuse(app_client: TestClient, db_url: str) -> None:
    for name, raw, mention in RAW_CASES:
        for path in ("/v1/usage", "/v1/quote", "/v1/balances/u1/credits"):
            response = _post_raw(app_client, raw, path)
            assert_refused(response, 422, "invalid_request", mention, case=name)
    assert nothing_written(db_url)


def test_wrong_content_types_are_415(app_client: TestClient, db_url: str) -> None:
    """Decision: a body that is not declared JSON is 415 with the error shape,
    even when it would parse (a form post must never be guessed at)."""
    body = json.dumps(event("ct")).encode()
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonx",
        "",
    ):
        headers = {"content-type": content_type} if content_type else {}
        response = app_client.post("/v1/usage", content=body, headers=headers)
        assert_refused(response, 415, "invalid_request", "content-type", case=content_type)
    # Parameters and the +json suffix are fine.
    for content_type in ("application/json; charset=utf-8", "application/vnd.billing+json"):
        response = app_client.post(
            "/v1/quote", content=body, headers={"content-type": content_type}
        )
        assert response.status_code == 200, (content_type, response.text)
    assert nothing_written(db_url)


def test_batches_over_the_limit_write_nothing(make_client: AppFactory, db_url: str) -> None:
    client = make_client(CLAUDE_CONFIG, max_batch_events=10)
    response = client.post("/v1/usage", json={"events": [event(f"b{i}") for i in range(11)]})
    assert_refused(response, 422, "invalid_request", "events")
    # One bad event anywhere refuses the whole batch.
    batch = [event(f"c{i}") for i in range(9)] + [_with_tokens(prompt=-5)]
    response = client.post("/v1/usage", json={"events": batch})
    assert_refused(response, 422, "invalid_request", "tokens.prompt")
    assert nothing_written(db_url)
    ok = client.post("/v1/usage", json={"events": [event(f"b{i}") for i in range(10)]})
    assert ok.status_code == 200 and ok.json()["accepted"] == 10


def test_bodies_over_the_size_limit_are_413(make_client: AppFactory, db_url: str) -> None:
    client = make_client(CLAUDE_CONFIG, max_body_bytes=4096)
    big = json.dumps({"events": [event(f"s{i}") for i in range(100)]}).encode()
    declared = client.post("/v1/usage", content=big, headers=JSON)
    assert_refused(declared, 413, "payload_too_large", "4096")

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    streamed = client.post("/v1/usage", content=chunks(), headers=JSON)
    assert_refused(streamed, 413, "payload_too_large", "4096")
    assert nothing_written(db_url)


def test_chunked_body_without_content_length_is_cut_off_by_the_real_server(
    db_url: str, write_config: Any, live_server: LiveServer
) -> None:
    """Over real HTTP: Transfer-Encoding: chunked, no Content-Length, 10 MB."""
    env = {"BILLING_MAX_BODY_BYTES": "65536"}
    with live_server(db_url, config=write_config(CLAUDE_CONFIG), env=env) as base:
        sent = 0

        def endless() -> Iterator[bytes]:
            nonlocal sent
            yield b'{"events": ['
            for i in range(100_000):
                chunk = json.dumps(event(f"chunk{i}")).encode() + b","
                sent += len(chunk)
                yield chunk
            yield b"{}]}"

        with httpx.Client(base_url=base, timeout=30) as http:
            try:
                response = http.post("/v1/usage", content=endless(), headers=JSON)
            except httpx.TransportError:
                pytest.fail("the server dropped the connection instead of answering 413")
            assert "content-length" not in response.request.headers
            assert_refused(response, 413, "payload_too_large", "65536")
            assert http.get("/healthz").status_code == 200
    assert nothing_written(db_url)
