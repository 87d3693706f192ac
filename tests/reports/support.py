"""Independent expectations for cost reports, computed from the ledger rows."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

REPORT_CONFIG = """
balance:
  enabled: true
  startBalance: 1000000
interface:
  currency:
    code: EUR
    rate: 0.92
endpoints:
  openAI:
    tokenConfig:
      gpt-4o:
        prompt: 2.5
        completion: 10
        context: 128000
        cacheRead: 1.25
  custom:
    - name: Claude-Compatible
      provider: anthropic
      apiKey: test-key
      baseURL: https://api.anthropic.com
      models:
        default: [claude-sonnet-4-5]
      tokenConfig:
        claude-sonnet-4-5:
          prompt: 3
          completion: 15
          context: 200000
          cacheRead: 0.3
          cacheWrite: 3.75
"""

MODELS = (
    ("openAI", "gpt-4o"),
    ("openAI", "gpt-4o-mini"),
    ("Claude-Compatible", "claude-sonnet-4-5"),
    ("anthropic", "claude-3-5-haiku"),
    ("google", "gemini-2.5-flash"),
)
# Around the New York DST fall-back (2026-11-01 06:00 UTC) and Kolkata's day
# boundary (18:30 UTC), and across the Berlin spring-forward (2026-03-29 01:00 UTC).
ANCHORS = (
    datetime(2026, 11, 1, 4, 40, tzinfo=UTC),
    datetime(2026, 11, 1, 18, 10, tzinfo=UTC),
    datetime(2026, 3, 29, 0, 20, tzinfo=UTC),
)


def make_events(count: int, seed: int = 11) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    events = []
    for i in range(count):
        endpoint, model = rnd.choice(MODELS)
        anchor = rnd.choice(ANCHORS)
        when = anchor + timedelta(seconds=rnd.randrange(3 * 3600))
        tokens = {"prompt": rnd.randint(0, 5000), "completion": rnd.randint(0, 900)}
        if rnd.random() < 0.4:
            tokens["cache_read"] = rnd.randint(1, 20000)
        if rnd.random() < 0.2:
            tokens["cache_write"] = rnd.randint(1, 4000)
        events.append(
            {
                "event_id": f"ev-{seed}-{i}",
                "user_id": f"user-{rnd.randrange(4)}",
                "endpoint": endpoint,
                "model": model,
                "context": rnd.choice(("message", "message", "title", "incomplete")),
                "conversation_id": f"conv-{rnd.randrange(3)}",
                "message_id": f"msg-{i // 2}",
                "occurred_at": when.isoformat().replace("+00:00", "Z"),
                "tokens": tokens,
            }
        )
    return events


def post_events(client: TestClient, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 50):
        response = client.post("/v1/usage", json={"events": events[start : start + 50]})
        assert response.status_code == 200, response.text


def ledger(client: TestClient, **params: str) -> list[dict[str, Any]]:
    """Every ledger row through GET /v1/transactions (paged)."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/transactions", params=query).json()
        rows += page["transactions"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


def _key(row: dict[str, Any], group_by: list[str], zone: ZoneInfo) -> tuple[str | None, ...]:
    local = datetime.fromisoformat(row["created_at"].replace("Z", "+00:00")).astimezone(zone)
    values = {
        "user_id": row["user_id"],
        "endpoint": row["endpoint"],
        "model": row["model"],
        "token_type": row["token_type"],
        "context": row["context"],
        "day": local.date().isoformat(),
        "hour": local.replace(minute=0, second=0, microsecond=0).isoformat(),
    }
    return tuple(values[name] for name in group_by)


def expected(
    rows: list[dict[str, Any]],
    group_by: list[str],
    tz: str = "UTC",
    start: datetime | None = None,
    end: datetime | None = None,
    **filters: str,
) -> dict[tuple[str | None, ...], tuple[int, Decimal]]:
    """key -> (tokens, cost in credits) from usage rows only."""
    zone = ZoneInfo(tz)
    sums: dict[tuple[str | None, ...], list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for row in rows:
        if row["kind"] != "usage":
            continue
        when = datetime.fromisoformat(row["created_at"].replace("Z", "+00:00"))
        if (start is not None and when < start) or (end is not None and when >= end):
            continue
        if any(row[name] != value for name, value in filters.items()):
            continue
        item = sums[_key(row, group_by, zone)]
        item[0] += row["tokens"]
        item[1] -= Decimal(row["credits"])
    return {key: (tokens, cost) for key, (tokens, cost) in sums.items()}


def reported(body: dict[str, Any]) -> dict[tuple[str | None, ...], tuple[int, Decimal]]:
    return {
        tuple(row["key"][name] for name in body["group_by"]): (
            row["tokens"],
            Decimal(row["credits"]),
        )
        for row in body["rows"]
    }
