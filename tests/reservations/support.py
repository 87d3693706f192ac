"""Builders shared by the spend-control tests (check and reservations)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from billing.balances.check_schemas import SpendEstimateIn
from billing.balances.service import reconcile
from billing.group_commit import run_transaction
from billing.reservations import service as reservations

# 1000 prompt at 3 + 200 completion at 15 (Claude-Compatible in CLAUDE_CONFIG).
ESTIMATE_CREDITS = 6000
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def estimate(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "endpoint": "Claude-Compatible",
        "model": "claude-sonnet-4-5",
        "tokens": {"prompt": 1000},
        "max_completion_tokens": 200,
    }
    body.update(overrides)
    return body


def set_clock(client: TestClient, when: datetime) -> None:
    client.app.state.runtime.clock = lambda: when  # type: ignore[attr-defined]


def set_credits(client: TestClient, user_id: str, credits: int) -> None:
    response = client.put(f"/v1/balances/{user_id}", json={"credits": str(credits)})
    assert response.status_code == 200, response.text


def reserve(client: TestClient, user_id: str = "u1", **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/reservations", json={**estimate(**overrides), "user_id": user_id})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def lease(client: TestClient, user_id: str = "u1", ttl_seconds: int = 600) -> str:
    """A gateway credit lease for the user (as a gateway worker makes one), of up to
    ten estimates; its id."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    ask = reservations.LeaseAsk(None, 10 * ESTIMATE_CREDITS * 1_000_000, 1, ttl_seconds)
    request = SpendEstimateIn.model_validate(estimate())
    leased = run_transaction(
        runtime.sessions,
        lambda session: reservations.hold_or_lease(
            session, runtime.snapshot, user_id, request, ttl_seconds, runtime.clock(), ask
        ),
    )
    assert isinstance(leased, reservations.Leased), leased
    return leased.lease_id


def balance(client: TestClient, user_id: str = "u1") -> dict[str, Any]:
    response = client.get(f"/v1/balances/{user_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def reconciles(client: TestClient) -> bool:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        return reconcile(session) == []
