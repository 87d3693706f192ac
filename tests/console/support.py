"""Shared by the console tests: a config, keys, usage to look at, and signing in."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

ADMIN_KEY = "console-admin-key-0001"
READ_KEY = "console-read-key-00001"
INGEST_KEY = "console-ingest-key-001"
API_KEYS = f"{ADMIN_KEY}:admin;{READ_KEY}:read;{INGEST_KEY}:ingest"

CONFIG = """
balance:
  enabled: true
  startBalance: 100000
interface:
  currency:
    code: EUR
    rate: 0.5
endpoints:
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
    - name: Mystery
      apiKey: test-key
      baseURL: http://127.0.0.1:9/v1
      models:
        default: [zzqx-house-model]
"""

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(page: str) -> str:
    found = _CSRF.search(page)
    assert found is not None, "the page has no form with a CSRF token"
    return html.unescape(found.group(1))


def sign_in(client: TestClient, key: str) -> str:
    """Sign in through the form; the overview page's HTML."""
    form = client.get("/console/login")
    assert form.status_code == 200
    response = client.post(
        "/console/login", data={"api_key": key, "csrf_token": csrf(form.text), "next": "/console"}
    )
    assert response.status_code == 200, response.text
    assert str(response.url).endswith("/console")
    return response.text


def usage(now: datetime) -> list[dict[str, Any]]:
    """Two users, two conversations, a priced model and one billed at the fallback rate."""
    recent = (now - timedelta(hours=2)).astimezone(UTC)

    def at(minutes: int) -> str:
        return (recent + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")

    def event(n: int, user: str, conversation: str, endpoint: str, model: str) -> dict[str, Any]:
        return {
            "event_id": f"console-ev-{n}",
            "user_id": user,
            "endpoint": endpoint,
            "model": model,
            "conversation_id": conversation,
            "message_id": f"console-msg-{n}",
            "occurred_at": at(n),
            "tokens": {"prompt": 1000 * n, "completion": 100 * n, "cache_read": 500},
        }

    return [
        event(1, "alice", "conv-a", "Claude-Compatible", "claude-sonnet-4-5"),
        event(2, "alice", "conv-a", "Claude-Compatible", "claude-sonnet-4-5"),
        event(3, "alice", "conv-b", "Mystery", "zzqx-house-model"),
        event(4, "bob", "conv-c", "Claude-Compatible", "claude-sonnet-4-5"),
    ]


def load_usage(client: TestClient) -> None:
    now = client.app.state.runtime.clock()  # type: ignore[attr-defined]
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    response = client.post("/v1/usage", json={"events": usage(now)}, headers=headers)
    assert response.status_code == 200, response.text
    # A user with a balance and no usage: listed, never spent.
    carol = client.post("/v1/balances/carol/credits", json={"amount": "5"}, headers=headers)
    assert carol.status_code == 200, carol.text
