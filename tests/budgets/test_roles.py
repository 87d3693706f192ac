"""Roles: set by an admin or sent with usage, checks and reservations; the
``billing.roles`` policies apply at first sight (startBalance), at refill and
as a default budget that a user's own budget overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.budgets.support import EVENT_CREDITS, get_budget, post_usage, put_budget, with_billing
from tests.conftest import AppFactory
from tests.helpers import event
from tests.reservations.support import balance, estimate, reconciles, set_clock

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ROLES = with_billing(
    """  roles:
    PRO:
      startBalance: 500000
      autoRefillEnabled: true
      refillIntervalValue: 1
      refillIntervalUnit: days
      refillAmount: 7000
    USER:
      budget: {limitCredits: 30000, period: month, tz: Europe/Berlin}
"""
)


def _ledger(client: TestClient, user_id: str) -> list[tuple[str, str]]:
    rows = client.get("/v1/transactions", params={"user_id": user_id}).json()["transactions"]
    return [(row["kind"], row["credits"]) for row in reversed(rows) if row["kind"] != "usage"]


def _role(client: TestClient, user_id: str, role: Any) -> dict[str, Any]:
    response = client.put(f"/v1/users/{user_id}", json={"role": role})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_user_first_seen_with_a_role_starts_with_its_balance(make_client: AppFactory) -> None:
    client = make_client(ROLES)
    set_clock(client, T0)
    # By a usage event's role field, ...
    post_usage(client, event("e1", user_id="by-usage", role="PRO"))
    assert balance(client, "by-usage")["credits"] == str(500000 - EVENT_CREDITS)
    # ... a check's, a reservation's, ...
    check = client.post("/v1/balances/by-check/check", json=estimate(role="PRO")).json()
    assert check["balance"] == "500000"
    hold = client.post("/v1/reservations", json={**estimate(role="PRO"), "user_id": "by-hold"})
    assert hold.status_code == 201 and hold.json()["balance"] == "500000"
    # ... or by an admin before the user's first call.
    assert _role(client, "by-admin", "PRO") == {
        "user_id": "by-admin",
        "role": "PRO",
        "budget": None,
    }
    assert balance(client, "by-admin")["credits"] == "500000"
    # Without a role, or with one that has no policy, balance.startBalance applies.
    post_usage(client, event("e2", user_id="plain"), event("e3", user_id="other", role="GUEST"))
    assert balance(client, "plain")["credits"] == str(100000 - EVENT_CREDITS)
    assert balance(client, "other")["credits"] == str(100000 - EVENT_CREDITS)
    for user in ("by-usage", "by-check", "by-hold", "by-admin"):
        assert _ledger(client, user) == [("start_balance", "500000")], user
        assert client.get(f"/v1/users/{user}").json()["role"] == "PRO"
    assert client.get("/v1/users/plain").status_code == 404
    assert reconciles(client)


def test_the_role_refill_applies_at_refill(make_client: AppFactory) -> None:
    client = make_client(ROLES)  # balance: no auto-refill for users without a role
    set_clock(client, T0)
    post_usage(client, event("e1", user_id="pro", role="PRO"), event("e2", user_id="plain"))
    refill = balance(client, "pro")["auto_refill"]
    assert (refill["enabled"], refill["amount"], refill["interval_value"]) == (True, "7000", 1)
    # A user who gets the role later takes its refill from then on.
    _role(client, "plain", "PRO")
    set_clock(client, T0 + timedelta(days=1))
    for user in ("pro", "plain"):
        client.post(f"/v1/balances/{user}/check", json=estimate())
    assert _ledger(client, "pro") == [("start_balance", "500000"), ("refill", "7000")]
    assert _ledger(client, "plain") == [("start_balance", "100000"), ("refill", "7000")]
    assert balance(client, "plain")["credits"] == str(107000 - EVENT_CREDITS)
    assert reconciles(client)


def test_the_role_budget_applies_until_the_user_has_one(make_client: AppFactory) -> None:
    client = make_client(ROLES)
    set_clock(client, T0)
    post_usage(client, event("e1", role="USER", occurred_at=T0.isoformat()))
    body = get_budget(client, "u1")
    assert (body["source"], body["limit_credits"], body["spent_credits"]) == (
        "role",
        "30000",
        str(EVENT_CREDITS),
    )
    assert body["resets_at"] == "2026-12-31T23:00:00Z"  # Berlin's January starts then
    assert client.get("/v1/users/u1").json()["budget"]["source"] == "role"
    # The user's own budget overrides the role's ...
    put_budget(client, "u1", limit_credits=EVENT_CREDITS, period="day")
    over = client.post("/v1/balances/u1/check", json=estimate()).json()
    assert over["error"] == "budget_exceeded" and over["budget"]["source"] == "user"
    # ... until it is deleted.
    assert client.delete("/v1/users/u1/budget").json()["source"] == "user"
    again = client.post("/v1/balances/u1/check", json=estimate(role="USER")).json()
    assert again["allowed"] is True and again["budget"]["source"] == "role"
    # Another role without a budget: no budget applies.
    _role(client, "u1", "PRO")
    assert client.get("/v1/users/u1/budget").status_code == 404
    assert _role(client, "u1", None)["role"] is None


def test_a_role_is_refused_when_it_is_not_text(make_client: AppFactory) -> None:
    client = make_client(ROLES)
    response = client.put("/v1/users/u1", json={"role": ""})
    assert response.status_code == 422 and "role" in response.json()["detail"]
    response = client.post("/v1/usage", json=event("e1", role=7))
    assert response.status_code == 422 and "role" in response.json()["detail"]


def test_a_first_check_with_a_role_is_refused_by_the_role_budget(make_client: AppFactory) -> None:
    """First sight goes through the writing path (the group committer): the role is
    stored and its budget applies there, under the row lock, as on the read path."""
    client = make_client(ROLES)
    set_clock(client, T0)
    # 10,000 x 3 + 2,000 x 15 = 60,000 credits: within the start balance, over the budget.
    big = estimate(tokens={"prompt": 10000}, max_completion_tokens=2000, role="USER")
    first = client.post("/v1/balances/new-user/check", json=big).json()
    assert (first["allowed"], first["error"], first["balance"]) == (
        False,
        "budget_exceeded",
        "100000",
    )
    assert first["resets_at"] == "2026-12-31T23:00:00Z"
    assert first["budget"]["source"] == "role" and first["budget"]["spent_credits"] == "0"
    # The role is stored: the next check is answered by the unlocked read, alike.
    again = client.post("/v1/balances/new-user/check", json=big).json()
    assert again == first
