"""Small builders shared by the HTTP tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

CLAUDE_CONFIG = """
balance:
  enabled: true
  startBalance: 100000
transactions:
  enabled: true
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
    - name: Local
      apiKey: none
      baseURL: http://127.0.0.1:11434/v1
      freeOfCharge: true
      models:
        default: [llama3.1:8b]
"""


def event(event_id: str, user_id: str = "u1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": event_id,
        "user_id": user_id,
        "endpoint": "Claude-Compatible",
        "model": "claude-sonnet-4-5",
        "tokens": {"prompt": 1000, "completion": 200, "cache_write": 1000, "cache_read": 5000},
    }
    body.update(overrides)
    return body


def credits(value: str) -> Decimal:
    return Decimal(value)
