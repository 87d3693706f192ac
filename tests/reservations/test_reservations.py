"""Reservations over HTTP: hold, settle with the real cost, release, expire, edge cases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event
from tests.reservations.support import (
    ESTIMATE_CREDITS,
    T0,
    balance,
    reconciles,
    reserve,
    set_clock,
    set_credits,
)

FULL_EVENT_CREDITS = 11250  # tests.helpers.event
SMALL_TOKENS = {"prompt": 1000, "completion": 100}  # 3000 + 1500 credits


def _client(make_client: AppFactory) -> TestClient:
    client = make_client(CLAUDE_CONFIG)
    set_clock(client, T0)
    return client


def _settle(client: TestClient, event_id: str, reservation_id: str, **fields: Any) -> dict:
    body = event(event_id, reservation_id=reservation_id, **fields)
    response = client.post("/v1/usage", json=body)
    assert response.status_code == 200, response.text
    result: dict = response.json()["events"][0]
    return result


def _get(client: TestClient, reservation_id: str) -> dict:
    response = client.get(f"/v1/reservations/{reservation_id}")
    assert response.status_code == 200, response.text
    result: dict = response.json()
    return result


def test_hold_counts_against_available_credits(make_client: AppFactory) -> None:
    client = _client(make_client)
    held = reserve(client)
    assert held["status"] == "active" and held["amount_credits"] == str(ESTIMATE_CREDITS)
    assert held["reservation_id"].startswith("res_")
    assert held["expires_at"] == "2026-11-01T12:30:00Z"  # default TTL 1800 s
    assert held["balance"] == "100000" and held["available_credits"] == "94000"
    assert held["cost"]["total_credits"] == "6000"
    view = balance(client)
    assert (view["credits"], view["reserved_credits"], view["available_credits"]) == (
        "100000",
        "6000",
        "94000",
    )
    listed = client.get("/v1/balances").json()["balances"][0]
    assert listed["reserved_credits"] == "6000"
    assert _get(client, held["reservation_id"])["status"] == "active"
    assert reconciles(client)  # holds are not ledger rows


def test_insufficient_balance_is_402_with_amounts(make_client: AppFactory) -> None:
    client = _client(make_client)
    set_credits(client, "u1", 10000)
    reserve(client)
    response = client.post(
        "/v1/reservations",
        json={
            "user_id": "u1",
            "endpoint": "Claude-Compatible",
            "model": "claude-sonnet-4-5",
            "tokens": {"prompt": 1000},
            "max_completion_tokens": 200,
        },
    )
    assert response.status_code == 402
    body = response.json()
    assert body["error"] == "insufficient_balance" and "4000" in body["detail"]
    assert (body["balance"], body["reserved_credits"]) == ("10000", "6000")
    assert (body["available_credits"], body["requested_credits"]) == ("4000", "6000")
    assert balance(client)["reserved_credits"] == "6000"  # the refusal held nothing


def test_settle_charges_the_real_cost_in_either_direction(make_client: AppFactory) -> None:
    client = _client(make_client)
    higher, lower = reserve(client), reserve(client)
    more = _settle(client, "e-more", higher["reservation_id"])
    assert more["reservation"] == {
        "reservation_id": higher["reservation_id"],
        "outcome": "settled",
        "held_credits": "6000",
        "charged_credits": str(FULL_EVENT_CREDITS),
    }
    assert more["balance"] == str(100000 - FULL_EVENT_CREDITS)
    less = _settle(client, "e-less", lower["reservation_id"], tokens=SMALL_TOKENS)
    assert less["reservation"]["outcome"] == "settled"
    assert less["reservation"]["charged_credits"] == "4500"
    view = balance(client)
    assert view["credits"] == view["available_credits"] == str(100000 - 11250 - 4500)
    assert view["reserved_credits"] == "0"
    settled = _get(client, higher["reservation_id"])
    assert settled["status"] == "settled" and settled["settled_event_id"] == "e-more"
    assert settled["settled_credits"] == "11250" and settled["closed_at"] == "2026-11-01T12:00:00Z"
    assert reconciles(client)


def test_duplicate_and_second_event_do_not_settle_twice(make_client: AppFactory) -> None:
    client = _client(make_client)
    rid = reserve(client)["reservation_id"]
    assert _settle(client, "e1", rid)["reservation"]["outcome"] == "settled"
    duplicate = _settle(client, "e1", rid)
    assert duplicate["status"] == "duplicate" and duplicate["reservation"] is None
    again = _settle(client, "e2", rid)  # a second, real event naming the same hold
    assert again["status"] == "accepted"
    assert again["reservation"]["outcome"] == "already_settled"
    assert _get(client, rid)["settled_event_id"] == "e1"
    assert balance(client)["credits"] == str(100000 - 2 * FULL_EVENT_CREDITS)
    r = reserve(client)["reservation_id"]
    events = [event("b1", reservation_id=r), event("b2", reservation_id=r)]
    batch = client.post("/v1/usage", json={"events": events}).json()["events"]
    assert [e["reservation"]["outcome"] for e in batch] == ["settled", "already_settled"]
    assert reconciles(client)


def test_release_is_idempotent_and_frees_the_hold(make_client: AppFactory) -> None:
    client = _client(make_client)
    rid = reserve(client)["reservation_id"]
    set_clock(client, T0 + timedelta(seconds=5))
    first = client.post(f"/v1/reservations/{rid}/release")
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "released"
    assert first.json()["closed_at"] == "2026-11-01T12:00:05Z"
    set_clock(client, T0 + timedelta(seconds=9))
    second = client.post(f"/v1/reservations/{rid}/release")
    assert second.status_code == 200 and second.json() == first.json()
    assert balance(client)["reserved_credits"] == "0"


def test_release_after_settle_is_409_conflict(make_client: AppFactory) -> None:
    client = _client(make_client)
    rid = reserve(client)["reservation_id"]
    _settle(client, "e1", rid)
    response = client.post(f"/v1/reservations/{rid}/release")
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "conflict" and "e1" in body["detail"]
    assert body["reservation_id"] == rid and body["reservation_status"] == "settled"
    assert _get(client, rid)["status"] == "settled"


def test_expired_hold_stops_counting_without_any_job(make_client: AppFactory) -> None:
    client = _client(make_client)
    set_credits(client, "u1", ESTIMATE_CREDITS)
    rid = reserve(client, ttl_seconds=60)["reservation_id"]
    assert _get(client, rid)["expires_at"] == "2026-11-01T12:01:00Z"
    set_clock(client, T0 + timedelta(seconds=59))
    assert client.post("/v1/reservations", json={**_body(), "user_id": "u1"}).status_code == 402
    set_clock(client, T0 + timedelta(seconds=60))
    assert _get(client, rid)["status"] == "expired"
    assert balance(client)["available_credits"] == str(ESTIMATE_CREDITS)
    reserve(client)  # the credit is available again
    response = client.post(f"/v1/reservations/{rid}/release")
    assert response.status_code == 409
    assert response.json()["error"] == "reservation_expired"
    assert response.json()["reservation_status"] == "expired"


def _body() -> dict[str, Any]:
    return {
        "endpoint": "Claude-Compatible",
        "model": "claude-sonnet-4-5",
        "tokens": {"prompt": 1000},
        "max_completion_tokens": 200,
    }


def test_settle_after_expiry_still_records_usage(make_client: AppFactory) -> None:
    client = _client(make_client)
    rid = reserve(client, ttl_seconds=10)["reservation_id"]
    set_clock(client, T0 + timedelta(minutes=5))
    result = _settle(client, "late", rid)
    assert result["status"] == "accepted"
    assert result["reservation"]["outcome"] == "settled_expired"
    assert result["balance"] == str(100000 - FULL_EVENT_CREDITS)
    view = _get(client, rid)
    assert view["status"] == "settled" and view["settled_event_id"] == "late"
    assert reconciles(client)


def test_settle_after_release_still_records_usage(make_client: AppFactory) -> None:
    client = _client(make_client)
    rid = reserve(client)["reservation_id"]
    client.post(f"/v1/reservations/{rid}/release")
    result = _settle(client, "after-release", rid)
    assert result["status"] == "accepted" and result["reservation"]["outcome"] == "released"
    assert result["balance"] == str(100000 - FULL_EVENT_CREDITS)
    assert _get(client, rid)["status"] == "released"


def test_unknown_and_foreign_reservation_ids(make_client: AppFactory) -> None:
    client = _client(make_client)
    for method, path in (
        ("GET", "/v1/reservations/res_nope"),
        ("POST", "/v1/reservations/res_nope/release"),
    ):
        response = client.request(method, path)
        assert response.status_code == 404
        assert response.json()["error"] == "reservation_not_found"
    unknown = _settle(client, "e-unknown", "res_nope")
    assert unknown["status"] == "accepted"  # usage is never lost
    assert unknown["reservation"] == {
        "reservation_id": "res_nope",
        "outcome": "not_found",
        "held_credits": None,
        "charged_credits": str(FULL_EVENT_CREDITS),
    }
    theirs = reserve(client, user_id="u2")["reservation_id"]
    mismatch = _settle(client, "e-mine", theirs)  # event for u1 names u2's hold
    assert mismatch["reservation"]["outcome"] == "user_mismatch"
    assert _get(client, theirs)["status"] == "active"
    assert balance(client, "u2")["reserved_credits"] == "6000"
    assert balance(client)["credits"] == str(100000 - 2 * FULL_EVENT_CREDITS)
    assert reconciles(client)


def test_ttl_bounds_and_validation(make_client: AppFactory) -> None:
    client = _client(make_client)
    for ttl in (9, 86401, "60"):
        response = client.post(
            "/v1/reservations", json={**_body(), "user_id": "u1", "ttl_seconds": ttl}
        )
        assert response.status_code == 422, ttl
        assert response.json()["fields"][0]["loc"] == "ttl_seconds"
    assert reserve(client, ttl_seconds=86400)["expires_at"] == "2026-11-02T12:00:00Z"
    client = make_client(CLAUDE_CONFIG, reservation_ttl_seconds=30)
    set_clock(client, T0)
    assert reserve(client)["expires_at"] == "2026-11-01T12:00:30Z"
    missing = client.post("/v1/reservations", json=_body())
    assert missing.status_code == 422 and "user_id" in missing.json()["detail"]


def test_balances_disabled_reservations_always_fit(make_client: AppFactory) -> None:
    client = make_client()
    body = {"endpoint": "openAI", "model": "gpt-4o", "tokens": {"prompt": 10**6}}
    response = client.post("/v1/reservations", json={**body, "user_id": "u1"})
    assert response.status_code == 201, response.text
    assert response.json()["balance"] == "0"
