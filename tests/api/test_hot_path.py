"""The hot routes' path in front of FastAPI (billing/api/hot_path.py).

It answers plain requests exactly as the FastAPI routes answer them, leaves
everything else (refused keys, odd heads, bodies its decoders decline) to
them, and HttpFront's rules (request id, config version, metrics, size limit,
body deadline) still apply to what it answers.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.types import Message

from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event
from tests.hot_path_support import counting_app_requests, hot_path_off
from tests.metrics.scrape import delta, parse, total
from tests.reservations.support import estimate

KEYS = '{"ingest-key-0123456789": ["ingest"], "read-key-0123456789ab": ["read"]}'
KEY = "ingest-key-0123456789"
INGEST = {"Authorization": f"Bearer {KEY}"}
# The answer's headers that the route and HttpFront set (uvicorn adds date and server).
HEADERS = (
    "content-type",
    "content-length",
    "preference-applied",
    "x-billing-config-version",
    "x-request-id",
)
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def reached_app() -> Iterator[list[str]]:
    """Paths of the requests that went on to the FastAPI app behind HttpFront."""
    with counting_app_requests() as paths:
        yield paths


def _answer(response: httpx.Response) -> tuple[int, dict[str, str | None], str]:
    """Status, headers and body, with the tag of the run's ids made neutral."""
    headers = {name: response.headers.get(name) for name in HEADERS}
    if GENERATED_ID.fullmatch(headers["x-request-id"] or ""):
        headers["x-request-id"] = "<generated>"
    return (
        response.status_code,
        headers,
        response.text.replace("-hot", "-tag").replace("-app", "-tag"),
    )


Request = Callable[[str], dict[str, Any]]  # tag -> client.request keywords


def _usage(body: Any, headers: dict[str, str] | None = None, **more: Any) -> Request:
    def build(tag: str) -> dict[str, Any]:
        text = json.dumps(body).replace("-tag", f"-{tag}")
        return {
            "method": "POST",
            "url": "/v1/usage",
            "content": text,
            "headers": {"content-type": "application/json", **INGEST, **(headers or {})},
            **more,
        }

    return build


def _raw(url: str, content: str | bytes, headers: dict[str, str]) -> Request:
    def build(tag: str) -> dict[str, Any]:
        text = (
            content.replace(b"-tag", f"-{tag}".encode())
            if isinstance(content, bytes)
            else (content.replace("-tag", f"-{tag}"))
        )
        return {"method": "POST", "url": url.replace("-tag", f"-{tag}"), "content": text,
                "headers": headers}  # fmt: skip

    return build


def _check(user: str, body: Any, headers: dict[str, str] | None = None) -> Request:
    return _raw(
        f"/v1/balances/{user}/check",
        json.dumps(body),
        {"content-type": "application/json", **INGEST, **(headers or {})},
    )


JSON = {"content-type": "application/json"}
PLAIN = {**JSON, **INGEST}
READ = {"Authorization": "Bearer read-key-0123456789ab"}
CHECK = "/v1/balances/c3-tag/check"
# (what, request, answered on the hot path)
CASES: list[tuple[str, Request, bool]] = [
    ("one event", _usage(event("e1-tag", "u1-tag")), True),
    ("the same event again: a duplicate", _usage(event("e1-tag", "u1-tag")), True),
    ("a batch", _usage({"events": [event(f"b{i}-tag", "u2-tag") for i in range(3)]}), True),
    ("minimal", _usage(event("e2-tag", "u1-tag"), {"Prefer": "return=minimal"}), True),
    ("a request id", _usage(event("e3-tag", "u3-tag"), {"X-Request-Id": "abc-123"}), True),
    ("a trailing slash", _raw("/v1/usage/", json.dumps(event("e4-tag", "u3-tag")), PLAIN), True),
    (
        "charset",
        _usage(event("e5-tag", "u9-tag"), {"content-type": "application/json; charset=utf-8"}),
        True,
    ),
    ("unknown endpoint: 422", _usage(event("e6-tag", "u1-tag", endpoint="nowhere")), True),
    ("other content: 409", _usage(event("e1-tag", "u1-tag", tokens={"prompt": 7})), True),
    ("a check", _check("c1-tag", estimate()), True),
    ("a check with a role", _check("c2-tag", estimate(role="USER")), True),
    ("a check again", _check("c1-tag", estimate()), True),
    ("a check of an unknown endpoint", _check("c1-tag", estimate(endpoint="nowhere")), True),
    # Declined: the FastAPI routes answer.
    ("no key", _raw("/v1/usage", json.dumps(event("n1-tag", "u9-tag")), JSON), False),
    (
        "a wrong key",
        _usage(event("n2-tag", "u9-tag"), {"Authorization": "Bearer wrong-key-01234"}),
        False,
    ),
    ("a read key", _usage(event("n3-tag", "u9-tag"), READ), False),
    (
        "lower-case scheme",
        _usage(event("n4-tag", "u9-tag"), {"Authorization": f"bearer {KEY}"}),
        False,
    ),
    ("two spaces", _usage(event("n5-tag", "u9-tag"), {"Authorization": f"Bearer  {KEY}"}), False),
    ("Basic", _usage(event("n6-tag", "u9-tag"), {"Authorization": "Basic dXNlcjpwYXNz"}), False),
    ("not JSON", _raw("/v1/usage", "{", PLAIN), False),
    ("a repeated key", _raw("/v1/usage", '{"event_id":"r-tag","event_id":"s-tag"}', PLAIN), False),
    ("NaN", _raw("/v1/usage", '{"event_id": NaN}', PLAIN), False),
    ("an unknown field", _usage(event("n7-tag", "u9-tag", extra=1)), False),
    ("a missing field", _usage({"event_id": "n8-tag", "user_id": "u1-tag"}), False),
    ("no body", _raw("/v1/usage", "", PLAIN), False),
    ("text/plain", _usage(event("n9-tag", "u9-tag"), {"content-type": "text/plain"}), False),
    (
        "over the batch limit",
        _usage({"events": [event(f"o{i}-tag", "u9-tag") for i in range(4)]}),
        False,
    ),
    ("an escaped quote", _usage(event("q1-tag", "u5-tag", context='say "hi"')), False),
    ("a check: bad user id", _check("x" * 201, estimate()), False),
    ("a check: unknown field", _check("c3-tag", estimate(extra=1)), False),
    ("a check: repeated key", _raw(CHECK, '{"endpoint":"a","endpoint":"b"}', PLAIN), False),
    ("a check: no key", _raw(CHECK, json.dumps(estimate()), JSON), False),
    ("a check: read key", _check("c3-tag", estimate(), READ), False),
]


def test_the_hot_path_answers_as_the_routes_do(
    make_client: AppFactory, reached_app: list[str]
) -> None:
    client = make_client(CLAUDE_CONFIG, api_keys=KEYS, max_batch_events=3)
    hot = []
    for what, request, on_hot_path in CASES:
        reached_app.clear()
        hot.append((what, _answer(client.request(**request("hot")))))
        assert bool(reached_app) is not on_hot_path, what
    with hot_path_off():
        for (what, request, _), (_, answered) in zip(CASES, hot, strict=True):
            assert _answer(client.request(**request("app"))) == answered, what
    statuses = {what: answer[0] for what, answer in hot}
    assert statuses["one event"] == statuses["a check"] == 200
    assert statuses["other content: 409"] == 409
    assert statuses["unknown endpoint: 422"] == 422
    assert statuses["an escaped quote"] == statuses["lower-case scheme"] == 200
    assert statuses["a wrong key"] == statuses["no key"] == 401
    assert statuses["a read key"] == 403


def test_a_wrong_or_missing_key_records_nothing(
    make_client: AppFactory, reached_app: list[str]
) -> None:
    client = make_client(CLAUDE_CONFIG, api_keys=KEYS)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer "}):
        refused = client.post("/v1/usage", json=event("k1"), headers=headers)
        assert refused.status_code == 401, headers
        assert refused.json()["error"] == "unauthorized"
        check = client.post("/v1/balances/k1/check", json=estimate(), headers=headers)
        assert check.status_code == 401
    read_only = {"Authorization": "Bearer read-key-0123456789ab"}
    assert client.post("/v1/usage", json=event("k1"), headers=read_only).status_code == 403
    # Nothing was recorded: the event is new to a key that may ingest.
    accepted = client.post("/v1/usage", json=event("k1"), headers=INGEST)
    assert accepted.json()["events"][0]["status"] == "accepted"


def test_no_key_configured_admits_loopback_only(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    assert client.post("/v1/usage", json=event("l1")).status_code == 200
    remote = TestClient(client.app, client=("203.0.113.9", 40000))  # type: ignore[arg-type]
    refused = remote.post("/v1/usage", json=event("l2"))
    assert refused.status_code == 401
    assert "only loopback clients" in refused.json()["detail"]


def test_metrics_and_request_ids_apply(make_client: AppFactory, reached_app: list[str]) -> None:
    client = make_client(CLAUDE_CONFIG, api_keys=KEYS)
    before = parse(client.get("/metrics").text)
    reached_app.clear()
    one = client.post("/v1/usage", json=event("m1"), headers=INGEST)
    other = client.post("/v1/usage", json=event("m2"), headers=INGEST)
    conflict = client.post("/v1/usage", json=event("m1", tokens={"prompt": 3}), headers=INGEST)
    check = client.post("/v1/balances/m-user/check", json=estimate(), headers=INGEST)
    assert reached_app == []  # all four answered on the hot path
    assert [one.status_code, other.status_code, conflict.status_code] == [200, 200, 409]
    ids = {r.headers["x-request-id"] for r in (one, other, conflict, check)}
    assert len(ids) == 4 and all(GENERATED_ID.fullmatch(i) for i in ids)
    assert one.headers["x-billing-config-version"] == check.headers["x-billing-config-version"]
    after = delta(before, parse(client.get("/metrics").text))
    count = "billing_http_request_duration_seconds_count"
    assert total(after, count, method="POST", route="/v1/usage", status="200") == 2
    assert total(after, count, method="POST", route="/v1/usage", status="409") == 1
    check_route = "/v1/balances/{user_id}/check"
    assert total(after, count, method="POST", route=check_route, status="200") == 1
    assert total(after, "billing_usage_events_total", outcome="rejected") == 1


Head = list[tuple[bytes, bytes]]
CHUNKED: Head = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]


async def _call(
    app: Any, path: str, chunks: list[bytes], head: Head, *, whole: bool = True
) -> tuple[int, dict[bytes, bytes], bytes]:
    """One raw ASGI request whose body arrives in ``chunks`` (``whole``: that is all of
    it; else more is announced and never comes)."""
    pending = [
        {"type": "http.request", "body": chunk, "more_body": not whole or i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": head, "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip
    await app(scope, receive, send)
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def _raw_call(
    client: TestClient,
    chunks: list[bytes],
    head: Head = CHUNKED,
    *,
    whole: bool = True,
    path: str = "/v1/usage",
) -> tuple[int, dict[bytes, bytes], bytes]:
    assert client.portal is not None
    return client.portal.call(lambda: _call(client.app, path, chunks, head, whole=whole))


def refuses_too_large_and_too_slow(client: TestClient, path: str, big: bytes) -> None:
    """``big`` (over the client's 1,024-byte limit) streamed in two chunks is 413, the
    start of a body that never ends is 408 after the deadline; both say their id."""
    status, headers, answer = _raw_call(client, [big[:600], big[600:]], path=path)
    assert status == 413 and json.loads(answer)["error"] == "payload_too_large"
    assert b"x-request-id" in headers
    status, headers, answer = _raw_call(client, [big[:11]], whole=False, path=path)
    assert status == 408 and json.loads(answer)["error"] == "request_timeout"
    assert b"x-request-id" in headers


def test_a_body_in_pieces_is_read_whole_or_replayed(
    make_client: AppFactory, reached_app: list[str]
) -> None:
    client = make_client(CLAUDE_CONFIG)
    body = json.dumps(event("p1")).encode()
    status, _, answer = _raw_call(client, [body[:10], body[10:30], body[30:]])
    assert status == 200 and json.loads(answer)["accepted"] == 1
    assert reached_app == []
    bad = b'{"event_id": "p2", "event_id": "p3"}'
    status, _, answer = _raw_call(client, [bad[:7], bad[7:]])
    assert status == 422 and reached_app == ["/v1/usage"]
    assert json.loads(answer)["detail"] == "body: duplicate key 'event_id' in a JSON object"


def test_size_limit_and_body_deadline_apply(
    make_client: AppFactory, reached_app: list[str]
) -> None:
    client = make_client(CLAUDE_CONFIG, max_body_bytes=1024, body_timeout_seconds=0.2)
    big = json.dumps(event("s1", context="x" * 1500)).encode()
    refuses_too_large_and_too_slow(client, "/v1/usage", big)
    assert reached_app == []  # both were the hot path's to read
