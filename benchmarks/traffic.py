"""Realistic mixed usage traffic: many users, built-in and custom endpoints, cache tokens.

Deterministic for a seed, so every backend and every run sees the same events.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

# A LibreChat-style config with custom endpoints and tokenConfig overrides, a
# free local endpoint, and balances with a start grant and auto-refill.
CONFIG_YAML = """
version: 1.2.1
balance:
  enabled: true
  startBalance: 50000000
  autoRefillEnabled: true
  refillIntervalValue: 30
  refillIntervalUnit: days
  refillAmount: 10000000
transactions:
  enabled: true
endpoints:
  custom:
    - name: Claude-Compatible
      apiKey: bench-key
      baseURL: https://api.anthropic.com
      models:
        default: [claude-sonnet-4-5, claude-haiku-4-5]
      tokenConfig:
        claude-sonnet-4-5:
          prompt: 3
          completion: 15
          cacheRead: 0.3
          cacheWrite: 3.75
          context: 200000
        claude-haiku-4-5:
          prompt: 1
          completion: 5
          cacheRead: 0.1
          cacheWrite: 1.25
          context: 200000
    - name: OpenRouter
      apiKey: bench-key
      baseURL: https://openrouter.ai/api/v1
      models:
        default: [openai/gpt-4.1-mini]
      tokenConfig:
        mistral-large:
          prompt: 2
          completion: 6
          context: 128000
    - name: Local
      apiKey: none
      baseURL: http://127.0.0.1:11434/v1
      freeOfCharge: true
      models:
        default: [llama3.1:8b]
"""

# (endpoint, model, weight): table keys, versioned and provider-prefixed names,
# tokenConfig entries, a free endpoint and an unknown (fallback-priced) model.
MODELS: tuple[tuple[str, str, int], ...] = (
    ("openAI", "gpt-4o-mini", 20),
    ("openAI", "gpt-4.1", 10),
    ("openAI", "gpt-4o-2024-08-06", 6),
    ("openAI", "o3-mini", 4),
    ("anthropic", "claude-3-5-sonnet-20241022", 8),
    ("anthropic", "claude-sonnet-4-20250514", 8),
    ("google", "gemini-2.5-pro", 5),
    ("google", "gemini-2.0-flash", 5),
    ("Claude-Compatible", "claude-sonnet-4-5", 12),
    ("Claude-Compatible", "claude-haiku-4-5", 6),
    ("OpenRouter", "openai/gpt-4.1-mini", 6),
    ("OpenRouter", "mistral-large", 3),
    ("OpenRouter", "acme/unknown-model-7b", 2),
    ("Local", "llama3.1:8b", 3),
)


def write_config(directory: Path) -> Path:
    path = directory / "librechat.yaml"
    path.write_text(CONFIG_YAML, encoding="utf-8")
    return path


class Traffic:
    """Draws events; ``duplicate_rate`` of them repeat an event id already drawn."""

    def __init__(self, *, users: int = 2_000, duplicate_rate: float = 0.02, seed: int = 7):
        self.rng = random.Random(seed)
        self.users = [f"user-{i:05d}" for i in range(users)]
        self.duplicate_rate = duplicate_rate
        self.run = uuid.UUID(int=self.rng.getrandbits(128)).hex[:8]
        self._choices = [(endpoint, model) for endpoint, model, _ in MODELS]
        self._weights = [weight for _, _, weight in MODELS]
        self._recent: list[dict[str, Any]] = []
        self._count = 0

    def event(self) -> dict[str, Any]:
        rng = self.rng
        if self._recent and rng.random() < self.duplicate_rate:
            return dict(rng.choice(self._recent))
        self._count += 1
        endpoint, model = rng.choices(self._choices, self._weights)[0]
        cached = rng.random() < 0.4
        tokens = {
            "prompt": rng.randrange(50, 20_000),
            "completion": rng.randrange(0, 2_000),
        }
        if cached:
            tokens["cache_write"] = rng.randrange(0, 4_000)
            tokens["cache_read"] = rng.randrange(0, 60_000)
        body: dict[str, Any] = {
            "event_id": f"bench-{self.run}-{self._count}",
            "user_id": rng.choice(self.users),
            "endpoint": endpoint,
            "model": model,
            "conversation_id": f"conv-{rng.randrange(100_000)}",
            "message_id": f"msg-{self._count}",
            "tokens": tokens,
        }
        if rng.random() < 0.03:
            body["context"] = "incomplete"
        if len(self._recent) < 5_000:
            self._recent.append(body)
        else:
            self._recent[rng.randrange(5_000)] = body
        return body

    def events(self, count: int) -> list[dict[str, Any]]:
        return [self.event() for _ in range(count)]

    def unique_ids(self, events: list[dict[str, Any]]) -> int:
        return len({e["event_id"] for e in events})
