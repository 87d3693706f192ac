"""Gateway credit leases in-process (the real app over a real database, a real
HTTP provider on 127.0.0.1): calls held against one lease and drawing their
real cost from it, estimates given back, per-call holds for a user with little
credit, a budget's limit, idle leases given back, a lease an operator releases.
Across processes: tests/gateway/test_live.py (the race, with and without leases).
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AppFactory
from tests.gateway.support import (
    ADMIN_KEY,
    API_KEYS,
    GATEWAY_KEY,
    GPT,
    START_BALANCE,
    balance,
    identity,
    reservations,
    set_balance,
)
from tests.gateway.upstream import COMPLETION_TOKENS, PROMPT_TOKENS, FakeUpstream
from tests.reservations.support import T0, set_clock

CHAT = "/gateway/OpenAI-Up/v1/chat/completions"
GPT_COST = Decimal("0.15") * PROMPT_TOKENS + Decimal("0.6") * COMPLETION_TOKENS
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
BODY = {"model": GPT, "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 100}


def _gateway(make_client: AppFactory, config: str, **settings: Any) -> TestClient:
    return make_client(config, api_keys=API_KEYS, gateway_timeout_seconds=0.5, **settings)


@pytest.fixture
def gateway(make_client: AppFactory, gateway_config: str) -> TestClient:
    return _gateway(make_client, gateway_config)


def _call(gateway: TestClient, user_id: str, role: str | None = None) -> int:
    roles = {"user_role": role} if role else {}
    headers = {"Authorization": f"Bearer {GATEWAY_KEY}", **identity(user_id, **roles)}
    return gateway.post(CHAT, json=BODY, headers=headers).status_code


def _amount(hold: dict[str, Any]) -> Decimal:
    return Decimal(hold["amount_credits"])


def test_calls_are_held_against_one_lease_and_draw_their_real_cost_from_it(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    assert _call(gateway, "lee") == 200
    (lease,) = reservations(gateway, "lee")
    assert (lease["kind"], lease["status"], lease["endpoint"]) == ("lease", "active", "*")
    after_one = _amount(lease)
    for _ in range(4):
        assert _call(gateway, "lee") == 200
    (lease,) = reservations(gateway, "lee")  # still one: no call needed the database
    assert _amount(lease) == after_one - 4 * GPT_COST  # each record drew its real cost
    assert balance(gateway, "lee") == START_BALANCE - 5 * GPT_COST
    assert len(upstream.received) == 5
    # What the lease still holds is what the user cannot spend elsewhere meanwhile.
    shown = gateway.get("/v1/balances/lee", headers=ADMIN).json()
    assert Decimal(shown["reserved_credits"]) == _amount(lease)


def test_an_upstream_error_gives_the_estimate_back_with_no_database_work(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    assert _call(gateway, "erin") == 200
    (lease,) = reservations(gateway, "erin")
    upstream.mode = "error"
    assert _call(gateway, "erin") == 500  # the upstream's status, passed through
    upstream.mode = "ok"
    assert reservations(gateway, "erin") == [lease]  # not touched
    assert _call(gateway, "erin") == 200
    (after,) = reservations(gateway, "erin")
    assert _amount(after) == _amount(lease) - GPT_COST
    assert balance(gateway, "erin") == START_BALANCE - 2 * GPT_COST


def test_a_user_with_little_credit_gets_a_hold_per_call(gateway: TestClient) -> None:
    # The estimate (~61 credits) fits in 200, but a quarter of 200 would not cover it.
    set_balance(gateway, "frugal", "200")
    assert _call(gateway, "frugal") == 200
    (hold,) = reservations(gateway, "frugal")
    assert (hold["kind"], hold["status"]) == ("hold", "settled")
    assert balance(gateway, "frugal") == Decimal(200) - GPT_COST


def test_a_lease_takes_at_most_its_share_of_a_budget(
    make_client: AppFactory, gateway_config: str
) -> None:
    # The role's budget, not the balance, is what limits this user.
    config = gateway_config + (
        "billing:\n  roles:\n    STUDENT:\n      budget: {limitCredits: 1000, period: month}\n"
    )
    gateway = _gateway(make_client, config)
    assert _call(gateway, "stu", role="STUDENT") == 200
    (lease,) = reservations(gateway, "stu")
    assert lease["kind"] == "lease"
    assert _amount(lease) + GPT_COST <= Decimal(1000) / 4  # a quarter of the room, drawn once


def test_an_idle_lease_is_given_back(make_client: AppFactory, gateway_config: str) -> None:
    gateway = _gateway(make_client, gateway_config, gateway_lease_idle_seconds=0.2)
    assert _call(gateway, "idle") == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        (lease,) = reservations(gateway, "idle")
        if lease["status"] == "released":
            break
        time.sleep(0.05)
    assert (lease["kind"], lease["status"]) == ("lease", "released")
    shown = gateway.get("/v1/balances/idle", headers=ADMIN).json()
    assert Decimal(shown["reserved_credits"]) == 0
    assert balance(gateway, "idle") == START_BALANCE - GPT_COST


def test_a_lease_an_operator_releases_is_dropped_and_the_next_call_leases_anew(
    gateway: TestClient,
) -> None:
    assert _call(gateway, "op") == 200
    (first,) = reservations(gateway, "op")
    released = gateway.post(f"/v1/reservations/{first['reservation_id']}/release", headers=ADMIN)
    assert released.status_code == 200, released.text
    # The worker learns it from the next record, which finds the lease released
    # (that call is charged all the same); the call after it asks for a new lease.
    assert _call(gateway, "op") == 200
    assert _call(gateway, "op") == 200
    leases = {h["reservation_id"]: h for h in reservations(gateway, "op")}
    assert leases[first["reservation_id"]]["status"] == "released"
    (second,) = [h for h in leases.values() if h["reservation_id"] != first["reservation_id"]]
    assert (second["kind"], second["status"]) == ("lease", "active")
    assert balance(gateway, "op") == START_BALANCE - 3 * GPT_COST


def test_a_user_who_cannot_afford_the_estimate_is_refused_before_any_lease(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    set_balance(gateway, "poor", "1")
    headers = {"Authorization": f"Bearer {GATEWAY_KEY}", **identity("poor")}
    answer = gateway.post(CHAT, json=BODY, headers=headers)
    assert answer.status_code == 402
    assert answer.json()["error"]["code"] == "insufficient_balance"
    assert reservations(gateway, "poor") == []
    assert upstream.received == []


def test_a_lease_past_half_its_life_is_topped_up_and_extended_before_use(
    make_client: AppFactory, gateway_config: str
) -> None:
    gateway = _gateway(make_client, gateway_config, gateway_lease_ttl_seconds=20)
    set_clock(gateway, T0)
    assert _call(gateway, "renew") == 200
    (lease,) = reservations(gateway, "renew")
    assert lease["expires_at"] == "2026-11-01T12:00:20Z"
    set_clock(gateway, T0 + timedelta(seconds=9))  # not yet half: used as it is
    assert _call(gateway, "renew") == 200
    assert reservations(gateway, "renew")[0]["expires_at"] == "2026-11-01T12:00:20Z"
    set_clock(gateway, T0 + timedelta(seconds=11))
    assert _call(gateway, "renew") == 200
    (renewed,) = reservations(gateway, "renew")  # the same lease, topped up
    assert renewed["reservation_id"] == lease["reservation_id"]
    assert renewed["expires_at"] == "2026-11-01T12:00:31Z"
    assert balance(gateway, "renew") == START_BALANCE - 3 * GPT_COST


def test_credit_an_admin_takes_away_releases_the_users_leases(gateway: TestClient) -> None:
    assert _call(gateway, "cut") == 200
    assert [h["kind"] for h in reservations(gateway, "cut")] == ["lease"]
    set_balance(gateway, "cut", "0")  # e.g. an operator stops a user's spending
    (released,) = reservations(gateway, "cut")
    assert (released["kind"], released["status"]) == ("lease", "released")
    # The worker learns it from its next record: that one call still goes out (it
    # was held in memory, as a call already running is held), and is charged.
    assert _call(gateway, "cut") == 200
    assert _call(gateway, "cut") == 402
    assert balance(gateway, "cut") == -GPT_COST
    # Credit added does not release them.
    set_balance(gateway, "cut", "100000")
    assert _call(gateway, "cut") == 200
    grant = gateway.post("/v1/balances/cut/credits", json={"amount": "5"}, headers=ADMIN)
    assert grant.status_code == 200, grant.text
    assert [h["status"] for h in reservations(gateway, "cut") if h["status"] == "active"] == [
        "active"
    ]
