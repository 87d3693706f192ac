"""Builders shared by the budget and role tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from billing.models import BudgetAlert
from tests.helpers import CLAUDE_CONFIG

# tests.helpers.event costs 11250 credits: 1000 x 3 + 200 x 15 + 1000 x 3.75 + 5000 x 0.3.
EVENT_CREDITS = 11250


def with_billing(section: str) -> str:
    """CLAUDE_CONFIG with a ``billing:`` section (YAML text, indented by two)."""
    return CLAUDE_CONFIG + "billing:\n" + section


def put_budget(client: TestClient, user_id: str, **body: Any) -> dict[str, Any]:
    response = client.put(f"/v1/users/{user_id}/budget", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def get_budget(client: TestClient, user_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/users/{user_id}/budget")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def post_usage(client: TestClient, *events: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/usage", json={"events": list(events)})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def alerts_sent(client: TestClient, user_id: str) -> list[tuple[str, str]]:
    """(period_start, alert) recorded for the user, in the order they fired."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        rows = session.execute(
            select(BudgetAlert.period_start, BudgetAlert.alert)
            .where(BudgetAlert.user_id == user_id)
            .order_by(BudgetAlert.id)
        )
        return [(start.isoformat(), alert) for start, alert in rows]
