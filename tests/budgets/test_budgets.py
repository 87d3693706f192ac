"""Spend limits per calendar period: the routes, usage counting toward them,
the check's allowed:false with resets_at, and reservations refused with 402."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.budgets.support import EVENT_CREDITS, get_budget, post_usage, put_budget
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event
from tests.reservations.support import (
    ESTIMATE_CREDITS,
    estimate,
    reconciles,
    reserve,
    set_clock,
)

# Saturday noon in Berlin (+01:00); the Berlin day ends at 23:00 UTC.
NOON = datetime(2026, 12, 5, 11, 0, tzinfo=UTC)
BERLIN_MIDNIGHT = "2026-12-05T23:00:00Z"


def test_put_get_delete_and_usage_counting_toward_the_period(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    set_clock(client, NOON)
    body = put_budget(client, "u1", limit_credits=20000, period="day", tz="Europe/Berlin")
    assert body == {
        "user_id": "u1",
        "limit_credits": "20000",
        "period": "day",
        "tz": "Europe/Berlin",
        "source": "user",
        "spent_credits": "0",
        "remaining_credits": "20000",
        "resets_at": BERLIN_MIDNIGHT,
    }
    occurred = NOON.isoformat()
    post_usage(client, event("e1", occurred_at=occurred))
    body = get_budget(client, "u1")
    assert (body["spent_credits"], body["remaining_credits"]) == ("11250", "8750")
    # Usage is never refused, even above the limit; remaining stops at 0.
    post_usage(client, event("e2", occurred_at=occurred))
    body = get_budget(client, "u1")
    assert (body["spent_credits"], body["remaining_credits"]) == ("22500", "0")
    # Usage that occurred in the previous Berlin day does not count toward this one.
    post_usage(client, event("e0", occurred_at="2026-12-04T22:59:59Z"))
    assert get_budget(client, "u1")["spent_credits"] == "22500"
    removed = client.delete("/v1/users/u1/budget")
    assert removed.status_code == 200 and removed.json()["spent_credits"] == "22500"
    missing = client.get("/v1/users/u1/budget")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert client.delete("/v1/users/u1/budget").status_code == 404
    assert reconciles(client)


def test_a_new_period_starts_from_zero(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    set_clock(client, NOON)
    put_budget(client, "u1", limit_credits="12000.5", period="day", tz="Europe/Berlin")
    post_usage(client, event("e1", occurred_at=NOON.isoformat()))
    set_clock(client, datetime(2026, 12, 5, 23, 0, tzinfo=UTC))  # Berlin midnight
    body = get_budget(client, "u1")
    assert body["spent_credits"] == "0" and body["limit_credits"] == "12000.5"
    assert body["resets_at"] == "2026-12-06T23:00:00Z"


def test_check_answers_allowed_false_with_resets_at(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)  # 100000 start balance: the balance always allows
    set_clock(client, NOON)
    put_budget(
        client,
        "u1",
        limit_credits=EVENT_CREDITS + ESTIMATE_CREDITS,
        period="day",
        tz="Europe/Berlin",
    )
    post_usage(client, event("e1", occurred_at=NOON.isoformat()))
    allowed = client.post("/v1/balances/u1/check", json=estimate()).json()
    assert allowed["allowed"] is True and "error" not in allowed
    assert allowed["budget"]["remaining_credits"] == str(ESTIMATE_CREDITS)
    # One credit more than the budget's remainder is refused, with when it resets.
    over = client.post(
        "/v1/balances/u1/check", json=estimate(tokens={"prompt": 1000, "cache_read": 4})
    ).json()
    assert over["allowed"] is False and over["error"] == "budget_exceeded"
    assert over["resets_at"] == BERLIN_MIDNIGHT
    assert over["budget"]["spent_credits"] == str(EVENT_CREDITS)
    assert over["token_cost"] == str(ESTIMATE_CREDITS + 1) + ".2"
    # An active hold counts too: after holding the estimate, nothing more fits.
    reserve(client, "u1")
    held = client.post("/v1/balances/u1/check", json=estimate(max_completion_tokens=1)).json()
    assert held["allowed"] is False and held["error"] == "budget_exceeded"
    # A balance too small is still LibreChat's token_balance, budget or not.
    client.put("/v1/balances/u1", json={"credits": "1"})
    poor = client.post("/v1/balances/u1/check", json=estimate()).json()
    assert poor["error"] == "token_balance"


def test_reservation_over_budget_is_402_budget_exceeded(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    set_clock(client, NOON)
    put_budget(client, "u1", limit_credits=2 * ESTIMATE_CREDITS, period="week")
    first, _ = reserve(client, "u1"), reserve(client, "u1")
    refused = client.post("/v1/reservations", json={**estimate(), "user_id": "u1"})
    assert refused.status_code == 402
    body = refused.json()
    assert body["error"] == "budget_exceeded"
    assert body["resets_at"] == "2026-12-07T00:00:00Z"  # Monday, UTC
    assert body["reserved_credits"] == str(2 * ESTIMATE_CREDITS)
    assert body["budget"]["period"] == "week" and "per week" in body["detail"]
    # Releasing a hold frees its share of the budget.
    assert client.post(f"/v1/reservations/{first['reservation_id']}/release").status_code == 200
    reserve(client, "u1")
    # Next week the spend starts over (the two holds expired long before).
    set_clock(client, NOON + timedelta(days=2))
    reserve(client, "u1")
    assert reconciles(client)


def test_settled_usage_counts_instead_of_its_hold(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    set_clock(client, NOON)
    put_budget(client, "u1", limit_credits=EVENT_CREDITS, period="month", tz="UTC")
    hold = reserve(client, "u1")
    settled = event("e1", reservation_id=hold["reservation_id"], occurred_at=NOON.isoformat())
    post_usage(client, settled)
    body = get_budget(client, "u1")
    assert (body["spent_credits"], body["remaining_credits"]) == (str(EVENT_CREDITS), "0")
    assert body["resets_at"] == "2027-01-01T00:00:00Z"
    refused = client.post("/v1/reservations", json={**estimate(), "user_id": "u1"})
    assert refused.json()["error"] == "budget_exceeded"


def test_bad_budgets_are_refused_naming_the_field(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    cases = [
        ({"limit_credits": "10", "period": "day", "tz": "Mars/Olympus"}, "tz"),
        ({"limit_credits": "10", "period": "year"}, "period"),
        ({"limit_credits": "-1", "period": "day"}, "limit_credits"),
        ({"period": "day"}, "limit_credits"),
    ]
    for body, field in cases:
        response = client.put("/v1/users/u1/budget", json=body)
        assert response.status_code == 422, body
        answer = response.json()
        assert answer["error"] == "invalid_request" and field in answer["detail"], answer
    assert client.get("/v1/users/u1/budget").status_code == 404


def test_budgets_apply_with_balances_off(make_client: AppFactory) -> None:
    config = CLAUDE_CONFIG.replace(
        "  enabled: true\n  startBalance: 100000\n", "  enabled: false\n"
    )
    client = make_client(config)
    set_clock(client, NOON)
    assert client.post("/v1/balances/u1/check", json=estimate()).json()["allowed"] is True
    put_budget(client, "u1", limit_credits=ESTIMATE_CREDITS - 1, period="day")
    check = client.post("/v1/balances/u1/check", json=estimate()).json()
    assert check["allowed"] is False and check["error"] == "budget_exceeded"
    refused = client.post("/v1/reservations", json={**estimate(), "user_id": "u1"})
    assert refused.status_code == 402 and refused.json()["error"] == "budget_exceeded"
    assert reconciles(client)


def test_spend_is_counted_in_the_budgets_calendar_month(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    # New York, December: 2026-12-01T05:00Z to 2027-01-01T05:00Z (standard time).
    set_clock(client, datetime(2026, 12, 31, 23, 0, tzinfo=UTC))
    put_budget(client, "u1", limit_credits=10**6, period="month", tz="America/New_York")
    post_usage(
        client,
        event("november", occurred_at="2026-12-01T04:59:59Z"),  # 23:59:59 on Nov 30
        event("first", occurred_at="2026-12-01T05:00:00Z"),  # 00:00 on Dec 1
        event("last", occurred_at="2027-01-01T04:59:59Z"),  # 23:59:59 on Dec 31
    )
    body = get_budget(client, "u1")
    assert body["spent_credits"] == str(2 * EVENT_CREDITS)
    assert body["resets_at"] == "2027-01-01T05:00:00Z"


def test_a_day_across_the_dst_change_is_25_hours(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    # Berlin falls back on 2026-10-25: the day runs from 22:00Z on the 24th to 23:00Z.
    set_clock(client, datetime(2026, 10, 25, 22, 30, tzinfo=UTC))
    put_budget(client, "u1", limit_credits=10**6, period="day", tz="Europe/Berlin")
    post_usage(
        client,
        event("before", occurred_at="2026-10-24T21:59:59Z"),
        event("start", occurred_at="2026-10-24T22:00:00Z"),
        event("hour-25", occurred_at="2026-10-25T22:59:59Z"),
    )
    body = get_budget(client, "u1")
    assert body["spent_credits"] == str(2 * EVENT_CREDITS)
    assert body["resets_at"] == "2026-10-25T23:00:00Z"
