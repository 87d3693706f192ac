"""POST /v1/admin/reload: a good file replaces the config, a bad one is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG
from tests.metrics.scrape import delta, parse, total

ADMIN_KEY = "admin-key-0123456789"
INGEST_KEY = "ingest-key-0123456789"
NEW_ENDPOINT = """
    - name: Extra
      apiKey: none
      baseURL: http://127.0.0.1:9/v1
      models:
        default: [extra-model]
      tokenConfig:
        extra-model: {prompt: 1, completion: 2, context: 8000}
"""
QUOTE = {"endpoint": "Extra", "model": "extra-model", "tokens": {"prompt": 1000}}


def test_reload_swaps_in_a_good_file_and_keeps_the_old_config_on_a_bad_one(
    make_client: AppFactory, write_config: Callable[[str], Path]
) -> None:
    path = write_config(CLAUDE_CONFIG)
    client = make_client(config=path, api_keys=f"{ADMIN_KEY}:admin;{INGEST_KEY}:ingest")
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    ingest = {"Authorization": f"Bearer {INGEST_KEY}"}
    before = parse(client.get("/metrics").text)  # no key needed

    assert client.post("/v1/admin/reload", headers=ingest).status_code == 403
    assert client.post("/v1/quote", json=QUOTE, headers=ingest).status_code == 422

    path.write_text(CLAUDE_CONFIG + NEW_ENDPOINT, encoding="utf-8")
    reloaded = client.post("/v1/admin/reload", headers=admin)
    assert reloaded.status_code == 200, reloaded.text
    assert reloaded.json()["source"] == str(path)
    quoted = client.post("/v1/quote", json=QUOTE, headers=ingest)
    assert quoted.json()["total_credits"] == "1000"

    broken = "endpoints:\n  custom:\n    - name: Broken\n      models: {fetch: true}\n"
    path.write_text(broken, encoding="utf-8")
    refused = client.post("/v1/admin/reload", headers=admin)
    assert refused.status_code == 422
    body = refused.json()
    assert body["error"] == "invalid_request"
    assert body["problems"] and all(isinstance(p, str) for p in body["problems"])
    assert "old config stays" in body["detail"]
    # The previous (good) config is still in use.
    assert client.post("/v1/quote", json=QUOTE, headers=ingest).json()["total_credits"] == "1000"

    after = parse(client.get("/metrics").text)
    moved = delta(before, after)
    assert total(moved, "billing_config_reloads_total", result="success") == 1
    assert total(moved, "billing_config_reloads_total", result="failure") == 1
    assert total(after, "billing_config_last_reload_successful") == 0
    assert total(after, "billing_config_last_reload_success_timestamp_seconds") > 0
