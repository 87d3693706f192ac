"""Provider usage over HTTP: bill what the provider bills, never drop usage.

Real app, real database (SQLite and PostgreSQL): the cost, the ledger rows,
the balance, the reports and the metrics of each shape.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from billing.balances.service import reconcile
from billing.reports.rollup_repository import rebuild_rollups
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event
from tests.metrics.scrape import delta, parse, total

START = Decimal(100000)  # CLAUDE_CONFIG's startBalance
WHEN = "2026-11-20T10:07:00Z"

# Anthropic Messages API usage with both cache TTLs (cache_creation_input_tokens
# is the sum of the two); Claude-Compatible prices 3 / 15 / 0.3 / 3.75, so the
# 1-hour writes are billed at 2 x 3 = 6.
ANTHROPIC_1H = {
    "input_tokens": 1000,
    "output_tokens": 200,
    "cache_creation_input_tokens": 3000,
    "cache_read_input_tokens": 5000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
    "service_tier": "standard",
}


def _provider_event(event_id: str, fmt: str, usage: dict[str, Any], **extra: Any) -> dict[str, Any]:
    payload = event(event_id, **extra)
    del payload["tokens"]
    payload["provider_usage"] = {"format": fmt, "usage": usage}
    return payload


def _reconciles(client: TestClient) -> bool:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        return reconcile(session) == []


def _metrics(client: TestClient) -> Any:
    return parse(client.get("/metrics").text)


def test_anthropic_one_hour_writes_are_billed_at_their_rate(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    payload = _provider_event(
        "a1h-1", "anthropic", ANTHROPIC_1H, conversation_id="c-1h", occurred_at=WHEN
    )
    response = client.post("/v1/usage", json=payload)
    assert response.status_code == 200, response.text
    result = response.json()["events"][0]
    assert "warnings" not in result
    cost = result["cost"]
    assert cost["lines"]["cache_write"] == {"tokens": 1000, "rate": "3.75", "credits": "3750"}
    assert cost["lines"]["cache_write_1h"] == {"tokens": 2000, "rate": "6", "credits": "12000"}
    # 3000 + 3000 + 3750 + 1500 + 12000
    assert cost["total_credits"] == "23250"
    assert Decimal(result["balance"]) == START - 23250

    rows = client.get("/v1/transactions", params={"user_id": "u1"}).json()["transactions"]
    usage_rows = {row["token_type"]: row for row in rows if row["kind"] == "usage"}
    assert set(usage_rows) == {
        "prompt",
        "completion",
        "cache_write",
        "cache_read",
        "cache_write_1h",
    }
    assert usage_rows["cache_write_1h"]["tokens"] == 2000
    assert usage_rows["cache_write_1h"]["rate"] == "6"
    assert Decimal(usage_rows["cache_write_1h"]["credits"]) == -12000
    assert _reconciles(client)

    # A repeat is a duplicate answered with the stored cost, 1-hour line included.
    again = client.post("/v1/usage", json=payload).json()["events"][0]
    assert again["status"] == "duplicate"
    assert again["cost"] == cost


def _cache_writes(body: dict[str, Any]) -> tuple[int, Decimal]:
    spend = body["total"]
    return spend["tokens_by_type"]["cache_write"], Decimal(spend["credits"])


def test_reports_count_one_hour_writes_as_cache_writes(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    payloads = [
        _provider_event(
            "r1h-1", "anthropic", ANTHROPIC_1H, conversation_id="c-r", occurred_at=WHEN
        ),
        {
            **event("r1h-2", conversation_id="c-r", occurred_at=WHEN),
            "tokens": {"cache_write_1h": 500},
        },
    ]
    assert client.post("/v1/usage", json={"events": payloads}).status_code == 200
    # 23250 + 500 x 6; cache writes: 1000 (5 min) + 2000 + 500 (1 hour)
    want = (3500, Decimal(26250))
    window = {"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z"}
    from_rollups = client.get("/v1/costs", params=window).json()
    from_ledger = client.get("/v1/costs", params={**window, "user_id": "u1"}).json()
    assert _cache_writes(from_rollups) == _cache_writes(from_ledger) == want
    assert from_rollups["total"]["tokens"] == 1000 + 200 + 3500 + 5000

    by_type = client.get("/v1/costs", params={**window, "group_by": "token_type"}).json()
    rows = {row["key"]["token_type"]: row for row in by_type["rows"]}
    assert set(rows) == {"prompt", "completion", "cache_write", "cache_read"}
    assert Decimal(rows["cache_write"]["credits"]) == 3750 + 12000 + 3000
    assert rows["cache_write"]["tokens"] == 3500

    conversation = client.get("/v1/conversations/c-r/cost").json()
    assert conversation["total"]["tokens_by_type"]["cache_write"] == 3500
    assert Decimal(conversation["total"]["credits"]) == 26250

    # Rollups rebuilt from the ledger agree with the ones written at ingest.
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session, session.begin():
        rebuild_rollups(
            session, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)
        )
    rebuilt = client.get("/v1/costs", params=window).json()
    assert _cache_writes(rebuilt) == want


def test_xai_reasoning_outside_completion_is_billed(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    grok = {
        "prompt_tokens": 663,
        "completion_tokens": 50,
        "total_tokens": 837,
        "prompt_tokens_details": {"text_tokens": 663, "cached_tokens": 640, "image_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 124, "audio_tokens": 0},
    }
    payload = _provider_event("grok-1", "xai", grok, endpoint="openAI", model="grok-4")
    cost = client.post("/v1/usage", json=payload).json()["events"][0]["cost"]
    # grok-4 from the built-in table: prompt 3, completion 15, cache at the prompt rate.
    assert cost["lines"]["completion"] == {"tokens": 174, "rate": "15", "credits": "2610"}
    assert cost["lines"]["prompt"]["tokens"] == 23
    assert cost["lines"]["cache_read"]["tokens"] == 640
    assert cost["total_credits"] == str(23 * 3 + 174 * 15 + 640 * 3)


def test_cached_above_input_is_accepted_flagged_and_counted_once(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    odd = {
        "prompt_tokens": 1210,
        "completion_tokens": 435,
        "total_tokens": 1645,
        "prompt_tokens_details": {"cached_tokens": 7662},
    }
    before = _metrics(client)
    batch = {
        "events": [
            _provider_event("odd-1", "openai", odd),
            _provider_event("fine-1", "openai", {"prompt_tokens": 10, "completion_tokens": 1}),
        ]
    }
    response = client.post("/v1/usage", json=batch)
    assert response.status_code == 200, response.text
    flagged, fine = response.json()["events"]
    assert "warnings" not in fine
    (warning,) = flagged["warnings"]
    assert warning["code"] == "cached_exceeds_input"
    assert warning["field"] == "provider_usage.usage.prompt_tokens_details.cached_tokens"
    assert "1210" in warning["message"] and "7662" in warning["message"]
    lines = flagged["cost"]["lines"]
    assert (lines["prompt"]["tokens"], lines["cache_read"]["tokens"]) == (1210, 7662)
    assert flagged["cost"]["total_credits"] == "12453.6"  # 1210 x 3 + 435 x 15 + 7662 x 0.3

    # The retry says the same about its payload, but the metric counts the event once.
    retry = client.post("/v1/usage", json=batch).json()["events"][0]
    assert retry["status"] == "duplicate"
    assert retry["warnings"] == flagged["warnings"]
    change = delta(before, _metrics(client))
    assert total(change, "billing_usage_warnings_total", code="cached_exceeds_input") == 1
    assert _reconciles(client)


def test_one_hour_writes_in_the_tokens_input(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    payload = {
        **event("t1h-1"),
        "tokens": {"prompt": 10, "cache_write": 100, "cache_write_1h": 100},
    }
    cost = client.post("/v1/usage", json=payload).json()["events"][0]["cost"]
    assert cost["lines"]["cache_write"]["credits"] == "375"
    assert cost["lines"]["cache_write_1h"]["credits"] == "600"
    quote = client.post("/v1/quote", json={k: v for k, v in payload.items() if k != "event_id"})
    assert quote.json()["lines"]["cache_write_1h"] == cost["lines"]["cache_write_1h"]


def test_event_without_token_counts_is_refused(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    bare = event("none-1")
    del bare["tokens"]
    response = client.post("/v1/usage", json=bare)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert "tokens" in body["detail"] and "provider_usage" in body["detail"]
    in_batch = client.post("/v1/usage", json={"events": [event("ok-1"), bare]})
    assert in_batch.status_code == 422
    assert "events[1]" in in_batch.json()["detail"]

    empty = _provider_event("none-2", "openai", {"total_tokens": 120})
    response = client.post("/v1/usage", json=empty)
    assert response.status_code == 422
    body = response.json()
    assert body["fields"][0]["loc"] == "provider_usage.usage"
    assert "prompt_tokens" in body["detail"] and "input_tokens" in body["detail"]

    # Nothing of the refused requests was recorded; explicit zeros are fine.
    zero = client.post("/v1/usage", json={**event("zero-1"), "tokens": {}})
    assert zero.status_code == 200
    assert zero.json()["events"][0]["cost"]["total_credits"] == "0"
    rows = client.get("/v1/transactions", params={"user_id": "u1"}).json()["transactions"]
    assert {row["event_id"] for row in rows if row["kind"] == "usage"} == set()
    assert _reconciles(client)
