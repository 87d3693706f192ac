"""Reservation idempotency keys (a retry never holds twice, a reused key never leaks)
and GET /v1/reservations (finding holds a timed-out client left behind)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from billing.models import Reservation
from tests.conftest import AppFactory, LiveServer
from tests.hardening.support import API_KEYS, INGEST_KEY, READ_KEY, bearer
from tests.helpers import CLAUDE_CONFIG, event
from tests.reservations.support import (
    ESTIMATE_CREDITS,
    T0,
    balance,
    estimate,
    reconciles,
    set_clock,
    set_credits,
)


def _client(make_client: AppFactory, **settings: Any) -> TestClient:
    client = make_client(CLAUDE_CONFIG, **settings)
    set_clock(client, T0)
    return client


def _post(client: TestClient, user_id: str, key: str | None, **overrides: Any) -> httpx.Response:
    body = {**estimate(**overrides), "user_id": user_id}
    if key is not None:
        body["idempotency_key"] = key
    return client.post("/v1/reservations", json=body)


def _holds(db_url: str) -> int:
    engine = create_engine(db_url)
    with Session(engine) as session:
        count = session.scalar(select(func.count()).select_from(Reservation))
    engine.dispose()
    return int(count or 0)


def test_a_retry_returns_the_same_hold(make_client: AppFactory, db_url: str) -> None:
    client = _client(make_client)
    first = _post(client, "u1", "call-1")
    assert first.status_code == 201, first.text
    held = first.json()
    assert held["idempotency_key"] == "call-1" and held["replayed"] is False

    set_clock(client, T0 + timedelta(seconds=5))
    retry = _post(client, "u1", "call-1")
    assert retry.status_code == 201, retry.text
    again = retry.json()
    assert again["replayed"] is True
    same = ("reservation_id", "amount_credits", "expires_at", "created_at", "cost", "status")
    assert {k: again[k] for k in same} == {k: held[k] for k in same}
    assert again["available_credits"] == str(100_000 - ESTIMATE_CREDITS)
    assert balance(client)["reserved_credits"] == str(ESTIMATE_CREDITS)  # held once
    assert _holds(db_url) == 1

    # Released meanwhile: the retry still answers that hold, and holds nothing new.
    client.post(f"/v1/reservations/{held['reservation_id']}/release")
    late = _post(client, "u1", "call-1").json()
    assert late["reservation_id"] == held["reservation_id"] and late["status"] == "released"
    assert late["replayed"] is True and balance(client)["reserved_credits"] == "0"
    assert _holds(db_url) == 1 and reconciles(client)


def test_a_retry_is_answered_even_when_the_hold_used_up_the_credit(
    make_client: AppFactory,
) -> None:
    client = _client(make_client)
    set_credits(client, "u1", ESTIMATE_CREDITS)
    assert _post(client, "u1", "all-of-it").status_code == 201
    assert _post(client, "u1", None).status_code == 402  # a new hold no longer fits
    retry = _post(client, "u1", "all-of-it")
    assert retry.status_code == 201 and retry.json()["replayed"] is True


def test_a_key_reused_with_another_request_is_a_conflict_showing_nothing(
    make_client: AppFactory, db_url: str
) -> None:
    client = _client(make_client)
    held = _post(client, "alice", "shared-key").json()
    cases = [
        ({"user_id": "mallory"}, ["user_id"]),
        ({"tokens": {"prompt": 2000}}, ["tokens.prompt"]),
        (
            {"max_completion_tokens": 10, "ttl_seconds": 60},
            ["max_completion_tokens", "ttl_seconds"],
        ),
        ({"model": "claude-other"}, ["model"]),
    ]
    for change, fields in cases:
        user = change.pop("user_id", "alice")
        response = _post(client, user, "shared-key", **change)
        assert response.status_code == 409, response.text
        body = response.json()
        assert body["error"] == "idempotency_conflict"
        assert body["idempotency_key"] == "shared-key" and body["differing_fields"] == fields
        assert "'shared-key'" in body["detail"]
        for secret in ("alice", held["reservation_id"], held["amount_credits"]):
            assert secret not in response.text, (secret, response.text)
    assert _holds(db_url) == 1
    assert client.get("/v1/balances/mallory").status_code == 404  # refused: nothing written


def _reserve_at_once(base: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Post every body at the same moment, each on its own connection."""
    start = threading.Barrier(len(bodies))

    def post(body: dict[str, Any]) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=60) as http:
            http.get("/healthz")  # connected before the barrier
            start.wait()
            return http.post("/v1/reservations", json=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_concurrent_retries_hold_once_and_reused_keys_conflict(
    db_url: str, write_config: Any, live_server: LiveServer
) -> None:
    """Against a multi-worker server: eight copies of one request hold once; one key
    sent for eight different users gives one hold and seven conflicts."""
    config: Path = write_config(CLAUDE_CONFIG)
    workers = 4 if db_url.startswith("postgresql") else 2
    with live_server(db_url, config=config, workers=workers) as base:
        same = {**estimate(), "user_id": "u1", "idempotency_key": "retried"}
        answers = _reserve_at_once(base, [same] * 8)
        assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers]
        assert len({a.json()["reservation_id"] for a in answers}) == 1
        assert sorted(a.json()["replayed"] for a in answers) == [False] + [True] * 7

        users = [
            {**estimate(), "user_id": f"user-{i}", "idempotency_key": "fought"} for i in range(8)
        ]
        answers = _reserve_at_once(base, users)
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] + [409] * 7, [a.text for a in answers]
        winner = next(a.json() for a in answers if a.status_code == 201)
        for answer in answers:
            if answer.status_code == 409:
                assert answer.json()["differing_fields"] == ["user_id"]
                assert winner["user_id"] not in answer.text
        with httpx.Client(base_url=base) as http:
            listed = http.get("/v1/reservations", params={"status": "active"}).json()
    assert len(listed["reservations"]) == 2 and _holds(db_url) == 2


def test_listing_finds_a_users_holds_by_status(make_client: AppFactory) -> None:
    client = _client(make_client)
    mine = {name: _post(client, "u1", f"k-{name}").json()["reservation_id"] for name in "abcd"}
    other = _post(client, "u2", None).json()["reservation_id"]
    client.post(f"/v1/reservations/{mine['b']}/release")
    settled = client.post("/v1/usage", json=event("e-1", "u1", reservation_id=mine["c"]))
    assert settled.status_code == 200
    short = _post(client, "u1", None, ttl_seconds=10).json()["reservation_id"]
    set_clock(client, T0 + timedelta(seconds=60))

    def listed(**params: Any) -> list[dict[str, Any]]:
        response = client.get("/v1/reservations", params=params)
        assert response.status_code == 200, response.text
        page: list[dict[str, Any]] = response.json()["reservations"]
        return page

    active = listed(user_id="u1", status="active")
    assert sorted(r["reservation_id"] for r in active) == sorted([mine["a"], mine["d"]])
    assert {r["user_id"] for r in active} == {"u1"}
    assert {r["idempotency_key"] for r in active} == {"k-a", "k-d"}
    assert [r["reservation_id"] for r in listed(user_id="u1", status="expired")] == [short]
    assert [r["reservation_id"] for r in listed(user_id="u1", status="released")] == [mine["b"]]
    (done,) = listed(user_id="u1", status="settled")
    assert done["reservation_id"] == mine["c"] and done["settled_event_id"] == "e-1"
    assert done["settled_credits"] == "11250"
    assert len(listed(user_id="u1")) == 5
    assert [r["reservation_id"] for r in listed(user_id="u2")] == [other]
    everyone = listed(status="active")
    assert sorted(r["reservation_id"] for r in everyone) == sorted([mine["a"], mine["d"], other])
    assert listed(user_id="nobody") == []

    # Paging: id order, next_cursor until the end.
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"user_id": "u1", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/reservations", params=params).json()
        seen += [r["reservation_id"] for r in page["reservations"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == 5

    # What a timed-out client does: find its active holds and release them.
    for hold in active:
        assert client.post(f"/v1/reservations/{hold['reservation_id']}/release").status_code == 200
    assert listed(user_id="u1", status="active") == []
    assert balance(client, "u2")["reserved_credits"] == str(ESTIMATE_CREDITS)

    bad = client.get("/v1/reservations", params={"status": "pending"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"


def test_listing_takes_an_ingest_or_a_read_key(make_client: AppFactory) -> None:
    client = _client(make_client, api_keys=API_KEYS)
    created = client.post(
        "/v1/reservations",
        json={**estimate(), "user_id": "u1"},
        headers=bearer(INGEST_KEY),
    )
    assert created.status_code == 201, created.text
    for key in (INGEST_KEY, READ_KEY):
        response = client.get("/v1/reservations", params={"user_id": "u1"}, headers=bearer(key))
        assert response.status_code == 200, response.text
        assert len(response.json()["reservations"]) == 1
    assert client.get("/v1/reservations").status_code == 401
    refused = client.post(
        "/v1/reservations", json={**estimate(), "user_id": "u1"}, headers=bearer(READ_KEY)
    )
    assert refused.status_code == 403
