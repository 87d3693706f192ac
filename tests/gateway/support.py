"""The config, keys and helpers the gateway tests share."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

GATEWAY_KEY = "gateway-client-key-0123456789"
INGEST_KEY = "gateway-ingest-key-0123456789"
ADMIN_KEY = "gateway-admin-key-01234567890"
API_KEYS = f"{GATEWAY_KEY}:gateway;{INGEST_KEY}:ingest;{ADMIN_KEY}:admin"
OPENAI_UPSTREAM_KEY = "sk-upstream-openai-secret-0001"
ANTHROPIC_UPSTREAM_KEY = "sk-ant-upstream-secret-0002"
START_BALANCE = Decimal(100000)
# Rates (credits per token): gpt-4o-mini 0.15 / 0.6, claude-sonnet-4-5 3 / 15.
GPT = "gpt-4o-mini"
CLAUDE = "claude-sonnet-4-5"


def config_yaml(upstream_url: str, refused_url: str, start_balance: Decimal = START_BALANCE) -> str:
    return f"""
version: 1.2.8
balance:
  enabled: true
  startBalance: {start_balance}
endpoints:
  custom:
    - name: OpenAI-Up
      apiKey: {OPENAI_UPSTREAM_KEY}
      baseURL: {upstream_url}/v1
      headers:
        X-Upstream-User: "{{{{LIBRECHAT_USER_ID}}}}"
        X-Upstream-Conversation: "{{{{LIBRECHAT_BODY_CONVERSATIONID}}}}"
        X-Upstream-Message: "{{{{LIBRECHAT_BODY_MESSAGEID}}}}"
        X-Upstream-Role: "{{{{LIBRECHAT_USER_ROLE}}}}"
        X-Upstream-Email: "{{{{LIBRECHAT_USER_EMAIL}}}}"
      addParams:
        safe_prompt: true
      dropParams: [user]
      models:
        default: [{GPT}]
      tokenConfig:
        {GPT}: {{prompt: 0.15, completion: 0.6, context: 128000}}
    - name: Claude-Up
      provider: anthropic
      apiKey: {ANTHROPIC_UPSTREAM_KEY}
      baseURL: {upstream_url}
      models:
        default: [{CLAUDE}]
      tokenConfig:
        {CLAUDE}: {{prompt: 3, completion: 15, context: 200000, cacheRead: 0.3, cacheWrite: 3.75}}
    - name: Down
      apiKey: down-key-0123456789
      baseURL: {refused_url}/v1
      models:
        default: [{GPT}]
      tokenConfig:
        {GPT}: {{prompt: 0.15, completion: 0.6, context: 128000}}
    - name: Unset
      apiKey: "${{GATEWAY_TEST_UNSET_KEY}}"
      baseURL: {upstream_url}/v1
      models:
        default: [{GPT}]
    - name: Fetching
      apiKey: {OPENAI_UPSTREAM_KEY}
      baseURL: {upstream_url}/v1
      models:
        default: [{GPT}]
        fetch: true
    - name: BYOK
      apiKey: user_provided
      baseURL: {upstream_url}/v1
      models:
        default: [{GPT}]
"""


def identity(user_id: str, **extra: str) -> dict[str, str]:
    headers = {"X-Billing-User-Id": user_id}
    for name, value in extra.items():
        headers[f"X-Billing-{name.replace('_', '-').title()}"] = value
    return headers


def balance(base_or_client: Any, user_id: str) -> Decimal:
    """The user's balance in credits, read through the API with the admin key."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    if isinstance(base_or_client, str):
        answer = httpx.get(f"{base_or_client}/v1/balances/{user_id}", headers=headers)
    else:
        answer = base_or_client.get(f"/v1/balances/{user_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return Decimal(answer.json()["credits"])


def reservations(base_or_client: Any, user_id: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    path = f"/v1/reservations?user_id={user_id}"
    if isinstance(base_or_client, str):
        answer = httpx.get(base_or_client + path, headers=headers)
    else:
        answer = base_or_client.get(path, headers=headers)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["reservations"]
    return found


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "librechat.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def usage_rows(base_or_client: Any, user_id: str) -> list[dict[str, Any]]:
    """The user's usage ledger rows (one per token type of each event), newest first."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    path = f"/v1/transactions?user_id={user_id}"
    if isinstance(base_or_client, str):
        answer = httpx.get(base_or_client + path, headers=headers)
    else:
        answer = base_or_client.get(path, headers=headers)
    assert answer.status_code == 200, answer.text
    return [row for row in answer.json()["transactions"] if row["kind"] == "usage"]


def tokens_by_type(rows: list[dict[str, Any]], event_id: str) -> dict[str, int]:
    return {row["token_type"]: row["tokens"] for row in rows if row["event_id"] == event_id}


def set_balance(base_or_client: Any, user_id: str, credits: str) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    body = {"credits": credits}
    if isinstance(base_or_client, str):
        answer = httpx.put(f"{base_or_client}/v1/balances/{user_id}", json=body, headers=headers)
    else:
        answer = base_or_client.put(f"/v1/balances/{user_id}", json=body, headers=headers)
    assert answer.status_code == 200, answer.text


def wait_events(base_or_client: Any, user_id: str, count: int, timeout: float = 10) -> None:
    """Until ``count`` usage events of the user are recorded: an answer goes out
    while its record commits (billing/gateway/proxy.py)."""
    deadline = time.monotonic() + timeout
    while True:
        events = {row["event_id"] for row in usage_rows(base_or_client, user_id)}
        if len(events) >= count or time.monotonic() > deadline:
            assert len(events) == count, (user_id, events)
            return
        time.sleep(0.02)
