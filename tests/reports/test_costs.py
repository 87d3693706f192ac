"""GET /v1/costs against totals computed independently from the ledger rows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from billing.reports.service import rebuild_rollups as rebuild_all
from tests.conftest import AppFactory
from tests.reports.support import (
    REPORT_CONFIG,
    expected,
    ledger,
    make_events,
    post_events,
    reported,
)


@pytest.fixture
def loaded(make_client: AppFactory) -> tuple[TestClient, list[dict[str, object]]]:
    client = make_client(REPORT_CONFIG)
    post_events(client, make_events(240))
    # Grants are balance changes, not spend: they must not show up in costs.
    grant = {"amount": "5000", "reason": "test", "idempotency_key": "g1"}
    assert client.post("/v1/balances/user-1/credits", json=grant).status_code == 200
    return client, ledger(client)


CASES = [
    ([], "UTC", {}),
    (["model"], "UTC", {}),
    (["day", "model"], "UTC", {}),
    (["day", "model"], "Asia/Kolkata", {}),
    (["hour"], "America/New_York", {}),
    (["hour", "endpoint"], "Europe/Berlin", {}),
    (["user_id", "token_type"], "UTC", {}),
    (["context", "day"], "Asia/Kolkata", {"endpoint": "openAI"}),
    (["day", "user_id"], "America/New_York", {"user_id": "user-2"}),
    (["token_type", "hour"], "Asia/Kolkata", {"model": "claude-sonnet-4-5"}),
]


def test_groups_match_the_ledger(loaded: tuple[TestClient, list[dict[str, object]]]) -> None:
    client, rows = loaded
    for group_by, tz, filters in CASES:
        case = f"group_by={group_by} tz={tz} filters={filters}"
        params = {"group_by": ",".join(group_by), "tz": tz, "currency": "USD", **filters}
        body = client.get("/v1/costs", params=params).json()
        want = expected(rows, group_by, tz, **filters)  # type: ignore[arg-type]
        assert reported(body) == want, case
        assert len(want) > (1 if group_by else 0), case
        total = sum((cost for _, cost in want.values()), Decimal(0))
        assert Decimal(body["total"]["credits"]) == total, case
        assert body["total"]["tokens"] == sum(tokens for tokens, _ in want.values()), case
        assert Decimal(body["total"]["usd"]) == total / 1_000_000, case
        assert body["total"]["amount"] == body["total"]["usd"], case


RANGES = [
    # Ragged bounds: whole 15-minute slots from rollups, the ends from the ledger.
    ("2026-11-01T05:07:13Z", "2026-11-01T19:52:01Z", "America/New_York"),
    ("2026-11-01T18:31:00+05:30", "2026-11-02T00:00:00+05:30", "Asia/Kolkata"),
    ("2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z", "Europe/Berlin"),
    ("2026-03-29T00:50:00Z", "2026-03-29T00:55:00Z", "UTC"),
    ("2026-03-29T00:00:00Z", "2026-11-02T00:00:00Z", "Asia/Kathmandu"),
    # Offsets are worked out over the ledger's time span only, not years 1 to 9999.
    ("0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z", "Europe/Berlin"),
]


def test_time_range(loaded: tuple[TestClient, list[dict[str, object]]]) -> None:
    client, rows = loaded
    for start, end, tz in RANGES:
        params = {"group_by": "hour,model", "tz": tz, "from": start, "to": end}
        body = client.get("/v1/costs", params=params).json()
        bounds = {
            "start": datetime.fromisoformat(start.replace("Z", "+00:00")),
            "end": datetime.fromisoformat(end.replace("Z", "+00:00")),
        }
        want = expected(rows, ["hour", "model"], tz, **bounds)  # type: ignore[arg-type]
        assert reported(body) == want, (start, end, tz)
        assert want, (start, end, tz)


def test_display_currency(loaded: tuple[TestClient, list[dict[str, object]]]) -> None:
    client, _ = loaded
    body = client.get("/v1/costs", params={"group_by": "endpoint"}).json()
    assert body["currency"] == "EUR"
    assert body["currency_rate"] == "0.92"
    for row in body["rows"]:
        assert Decimal(row["amount"]) == Decimal(row["usd"]) * Decimal("0.92")
        assert Decimal(row["usd"]) == Decimal(row["credits"]) / 1_000_000
    usd = client.get("/v1/costs", params={"group_by": "endpoint", "currency": "usd"}).json()
    assert usd["currency"] == "USD"
    assert [r["amount"] for r in usd["rows"]] == [r["usd"] for r in body["rows"]]
    refused = client.get("/v1/costs", params={"currency": "GBP"})
    assert refused.status_code == 422
    assert refused.json()["error"] == "invalid_request"
    assert "USD or EUR" in refused.json()["detail"]


def test_rollups_rebuild_to_the_same_answer(
    loaded: tuple[TestClient, list[dict[str, object]]], db_url: str
) -> None:
    client, _ = loaded
    queries = [
        {"group_by": "day,model,token_type", "tz": "Asia/Kolkata"},
        {"group_by": "hour,context", "tz": "America/New_York"},
    ]
    before = [client.get("/v1/costs", params=q).json() for q in queries]
    engine = create_engine(db_url)
    try:
        assert rebuild_all(engine) > 0
        # Rebuilding a part recomputes just that part.
        rebuild_all(
            engine, datetime(2026, 11, 1, 5, tzinfo=UTC), datetime(2026, 11, 1, 7, tzinfo=UTC)
        )
    finally:
        engine.dispose()
    assert [client.get("/v1/costs", params=q).json() for q in queries] == before


def test_empty_and_limit(loaded: tuple[TestClient, list[dict[str, object]]]) -> None:
    client, _ = loaded
    empty = client.get("/v1/costs", params={"group_by": "day", "user_id": "nobody"}).json()
    assert empty["rows"] == []
    assert empty["total"]["credits"] == "0"
    page = client.get("/v1/costs", params={"group_by": "hour,model", "limit": 3}).json()
    assert len(page["rows"]) == 3
    assert page["truncated"] is True
    full = client.get("/v1/costs", params={"group_by": "hour,model"}).json()
    assert page["rows"] == full["rows"][:3]
    assert page["total"] == full["total"]
    hours = [row["key"]["hour"] for row in full["rows"]]
    assert hours == sorted(hours)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"tz": "../../etc/passwd"}, "tz"),
        ({"group_by": "day,week"}, "group_by"),
        ({"from": "2026-11-01T00:00:00"}, "from"),
        ({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "from"),
    ],
)
def test_invalid_parameters(client: TestClient, params: dict[str, str], field: str) -> None:
    response = client.get("/v1/costs", params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert field in body["detail"]


def test_needs_read_scope(make_client: AppFactory) -> None:
    client = make_client(api_keys="reader-key-0123456789:read;writer-key-0123456789:ingest")
    assert client.get("/v1/costs").status_code == 401
    writer = client.get("/v1/costs", headers={"Authorization": "Bearer writer-key-0123456789"})
    assert writer.status_code == 403
    reader = client.get("/v1/costs", headers={"Authorization": "Bearer reader-key-0123456789"})
    assert reader.status_code == 200


def test_a_large_batch_with_events_recorded_before_adds_only_its_new_events(
    make_client: AppFactory, db_url: str
) -> None:
    """Ledger-first batches sum their rollup deltas before the write: with some of
    the events recorded already, only the new ones' deltas land (the rollups
    equal a rebuild from the ledger)."""
    client = make_client(REPORT_CONFIG)
    events = make_events(120, seed=5)
    post_events(client, events[::2])  # half of them first
    answer = client.post("/v1/usage", json={"events": events[:100]})
    assert answer.status_code == 200
    statuses = [outcome["status"] for outcome in answer.json()["events"]]
    assert statuses == ["duplicate", "accepted"] * 50
    query = {"group_by": "hour,model,token_type", "tz": "UTC"}
    before = client.get("/v1/costs", params=query).json()
    assert reported(before) == expected(ledger(client), ["hour", "model", "token_type"], "UTC")
    engine = create_engine(db_url)
    try:
        rebuild_all(engine)
    finally:
        engine.dispose()
    assert client.get("/v1/costs", params=query).json() == before
