"""Configs LibreChat runs with, used for real: `billing serve` (a process) starts with
endpoint credentials whose variables are unset and prices usage for those endpoints;
a negative startBalance is charged through the ledger."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import AppFactory, BillingServer

CONFIG = """
version: 1.2.8
balance:
  enabled: true
  startBalance: 100000
endpoints:
  custom:
    - name: groq
      apiKey: '${SERVE_TEST_GROQ_API_KEY}'
      baseURL: https://api.groq.com/openai/v1
      models:
        default: [llama-3.3-70b-versatile]
        fetch: true
      tokenConfig:
        llama-3.3-70b-versatile: {prompt: 0.59, completion: 0.79, context: 131072}
    - name: self-hosted
      apiKey: sk-local
      baseURL: 'http://${SERVE_TEST_VLLM_HOST}/v1'
      models:
        default: [qwen2.5-72b-instruct]
      tokenConfig:
        qwen2.5-72b-instruct: {prompt: 0.2, completion: 0.6, context: 32768}
"""


def _event(event_id: str, endpoint: str, model: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "user_id": "ops-alice",
        "endpoint": endpoint,
        "model": model,
        "tokens": {"prompt": 1000, "completion": 200},
    }


def test_serve_starts_and_prices_endpoints_with_unset_variables(
    db_url: str, write_config: Any, tmp_path: Path, billing_server: BillingServer
) -> None:
    for name in ("SERVE_TEST_GROQ_API_KEY", "SERVE_TEST_VLLM_HOST"):
        assert name not in os.environ
    log = tmp_path / "serve.log"
    with billing_server(db_url, config=write_config(CONFIG), log_path=log) as server:
        events = [
            _event("e1", "groq", "llama-3.3-70b-versatile"),
            _event("e2", "self-hosted", "qwen2.5-72b-instruct"),
        ]
        response = httpx.post(f"{server.base}/v1/usage", json={"events": events}, timeout=30)
        assert response.status_code == 200, response.text
        costs = {e["event_id"]: e["cost"] for e in response.json()["events"]}
        catalog = httpx.get(f"{server.base}/api/endpoints", timeout=30).json()
        balance = httpx.get(f"{server.base}/v1/balances/ops-alice", timeout=30).json()
    # 1000 x 0.59 + 200 x 0.79 = 748; 1000 x 0.2 + 200 x 0.6 = 320 credits.
    assert costs["e1"]["priced_by"] == costs["e2"]["priced_by"] == "token_config"
    assert (costs["e1"]["total_credits"], costs["e2"]["total_credits"]) == ("748", "320")
    assert balance["credits"] == str(100000 - 748 - 320)
    groq = next(e for e in catalog["endpoints"] if e["name"] == "groq")
    assert groq["models_source"] == "fallback"
    assert "SERVE_TEST_GROQ_API_KEY is not set" in groq["fetch_error"]
    logged = log.read_text(errors="replace")
    assert "endpoints.custom[0].apiKey: environment variable SERVE_TEST_GROQ_API_KEY" in logged
    assert "endpoints.custom[1].baseURL: environment variable SERVE_TEST_VLLM_HOST" in logged


def test_negative_start_balance_is_a_ledger_row(make_client: AppFactory) -> None:
    # LibreChat accepts a negative startBalance; billing records it like any other.
    config = CONFIG.replace("startBalance: 100000", "startBalance: -250.5")
    client = make_client(config)
    response = client.post("/v1/usage", json=_event("n1", "groq", "llama-3.3-70b-versatile"))
    assert response.status_code == 200, response.text
    assert client.get("/v1/balances/ops-alice").json()["credits"] == "-998.5"
    rows = client.get("/v1/transactions", params={"user_id": "ops-alice"}).json()
    kinds = sorted((row["kind"], row["credits"]) for row in rows["transactions"])
    assert ("start_balance", "-250.5") in kinds
