"""GET /v1/conversations/{id}/cost against the conversation's ledger rows."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from tests.conftest import AppFactory
from tests.reports.support import REPORT_CONFIG, ledger, post_events


def _event(event_id: str, message_id: str, minute: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": event_id,
        "user_id": "alice",
        "endpoint": "Claude-Compatible",
        "model": "claude-sonnet-4-5",
        "conversation_id": "conv-A",
        "message_id": message_id,
        "occurred_at": f"2026-11-20T10:{minute:02d}:00Z",
        "tokens": {"prompt": 1000, "completion": 200, "cache_write": 1000, "cache_read": 5000},
    }
    body.update(overrides)
    return body


EVENTS = [
    _event("e1", "m1", 1),
    _event("e2", "m1", 2, context="title", model="gpt-4o-mini", endpoint="openAI"),
    _event("e3", "m2", 5, tokens={"prompt": 30, "completion": 7}),
    _event("e4", "m3", 9, context="incomplete", endpoint="openAI", model="gpt-4o"),
    _event("e5", "m4", 12, user_id="bob"),
    _event("e6", "other-1", 3, conversation_id="conv-B"),
]


def test_per_message_and_total(make_client: AppFactory) -> None:
    client = make_client(REPORT_CONFIG)
    post_events(client, EVENTS)
    rows = [r for r in ledger(client, conversation_id="conv-A") if r["kind"] == "usage"]
    body = client.get("/v1/conversations/conv-A/cost", params={"currency": "USD"}).json()

    assert [m["message_id"] for m in body["messages"]] == ["m1", "m2", "m3", "m4"]
    assert body["user_ids"] == ["alice", "bob"]
    per_message: dict[str, Decimal] = defaultdict(Decimal)
    per_event: dict[str, Decimal] = defaultdict(Decimal)
    tokens: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        per_message[row["message_id"]] -= Decimal(row["credits"])
        per_event[row["event_id"]] -= Decimal(row["credits"])
        tokens[row["message_id"]][row["token_type"]] += row["tokens"]
    for message in body["messages"]:
        assert Decimal(message["credits"]) == per_message[message["message_id"]]
        assert message["tokens_by_type"] == {
            t: tokens[message["message_id"]][t]
            for t in ("prompt", "completion", "cache_write", "cache_read")
        }
        for event in message["events"]:
            assert Decimal(event["credits"]) == per_event[event["event_id"]]
    m1 = body["messages"][0]
    assert [(e["event_id"], e["model"], e["context"]) for e in m1["events"]] == [
        ("e1", "claude-sonnet-4-5", "message"),
        ("e2", "gpt-4o-mini", "title"),
    ]
    assert (m1["endpoint"], m1["model"]) == ("Claude-Compatible", "claude-sonnet-4-5")
    # The worked example of docs/design.md: 11,250 credits for e1.
    assert m1["events"][0]["credits"] == "11250"
    assert m1["events"][0]["usd"] == "0.01125"
    total = sum(per_message.values(), Decimal(0))
    assert Decimal(body["total"]["credits"]) == total
    assert body["total"]["amount"] == body["total"]["usd"]


def test_user_filter_and_display_currency(make_client: AppFactory) -> None:
    client = make_client(REPORT_CONFIG)
    post_events(client, EVENTS)
    body = client.get("/v1/conversations/conv-A/cost", params={"user_id": "bob"}).json()
    assert [m["message_id"] for m in body["messages"]] == ["m4"]
    assert body["total"]["credits"] == "11250"
    assert (body["currency"], body["currency_rate"]) == ("EUR", "0.92")
    assert Decimal(body["total"]["amount"]) == Decimal("0.01125") * Decimal("0.92")


def test_unknown_conversation_is_not_found(make_client: AppFactory) -> None:
    client = make_client(REPORT_CONFIG)
    post_events(client, EVENTS)
    response = client.get("/v1/conversations/no-such-conversation/cost")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
