"""Logs of the real server: JSON lines, request ids, and never a secret."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import BillingServer
from tests.hardening.support import ALL_KEYS, WITH_SCOPE, WITHOUT_SCOPE, bearer
from tests.helpers import event

LITERAL_KEY = "sk-literal-upstream-secret-5f1e2d"
ENV_KEY = "sk-from-env-upstream-secret-9a8b7c"
HEADER_SECRET = "hdr-secret-token-3141592653"
BAD_FILE_KEY = "sk-in-the-rejected-file-27182818"
CONFIG = f"""
balance:
  enabled: true
  startBalance: 100000
endpoints:
  custom:
    - name: Claude-Compatible
      apiKey: {LITERAL_KEY}
      baseURL: https://api.anthropic.com
      headers:
        x-upstream-auth: {HEADER_SECRET}
      models:
        default: [claude-sonnet-4-5]
      tokenConfig:
        claude-sonnet-4-5: {{prompt: 3, completion: 15, context: 200000}}
    - name: FromEnv
      apiKey: "${{BILLING_TEST_UPSTREAM_KEY}}"
      baseURL: https://example.invalid/v1
      models:
        default: [m1]
"""


def _exercise(base: str, config_path: Path) -> dict[str, str]:
    """Successes and failures of every kind; returns {request id: what it was}."""
    admin, ingest = bearer(WITH_SCOPE["admin"]), bearer(WITH_SCOPE["ingest"])
    json_ingest = {**ingest, "content-type": "application/json"}
    seen: dict[str, str] = {}
    with httpx.Client(base_url=base, timeout=30) as http:

        def call(name: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
            response = http.request(method, path, **kwargs)
            seen[response.headers["x-request-id"]] = name
            return response

        given = call("own id", "GET", "/healthz", headers={"X-Request-ID": "client-id-42"})
        assert given.headers["x-request-id"] == "client-id-42"
        insane = call("insane id", "GET", "/healthz", headers={"X-Request-ID": "a b" + "c" * 300})
        assert len(insane.headers["x-request-id"]) == 32  # replaced by a generated one
        assert call("usage", "POST", "/v1/usage", json=event("log-1"), headers=ingest).is_success
        assert call("no key", "GET", "/v1/balances").status_code == 401
        wrong = bearer("wrong-but-long-presented-key-000")
        assert call("wrong key", "GET", "/v1/balances", headers=wrong).status_code == 401
        lacking = bearer(WITHOUT_SCOPE["admin"])
        assert call("no scope", "POST", "/v1/admin/reload", headers=lacking).status_code == 403
        bad = call("bad body", "POST", "/v1/usage", content=b'{"a":NaN}', headers=json_ingest)
        assert bad.status_code == 422
        # A client that puts a secret in a URL: the access line must not repeat it.
        leaked = call("secret in path", "GET", f"/v1/balances/{LITERAL_KEY}", headers=admin)
        assert leaked.status_code == 404
        big = call(
            "too big",
            "POST",
            "/v1/quote",
            content=b"[" + b"1," * 40_000 + b"1]",
            headers={**ingest, "content-type": "application/json"},
        )
        assert big.status_code == 413
        assert call("reload ok", "POST", "/v1/admin/reload", headers=admin).status_code == 200
        config_path.write_text(
            CONFIG.replace(LITERAL_KEY, BAD_FILE_KEY) + "\nbalance: {startBalance: -1}\n"
        )
        refused = call("reload bad", "POST", "/v1/admin/reload", headers=admin)
        assert refused.status_code == 422
        assert call("after", "POST", "/v1/quote", json=event("q"), headers=ingest).is_success
    return seen


def test_logs_are_json_with_request_ids_and_no_secrets(
    db_url: str, write_config: Callable[[str], Path], tmp_path: Path, billing_server: BillingServer
) -> None:
    config_path = write_config(CONFIG)
    log_path = tmp_path / "server.log"
    env = {
        "BILLING_API_KEYS": ALL_KEYS,
        "BILLING_TEST_UPSTREAM_KEY": ENV_KEY,
        "BILLING_MAX_BODY_BYTES": "65536",
    }
    with billing_server(db_url, config=config_path, env=env, log_path=log_path) as server:
        seen = _exercise(server.base, config_path)
    text = log_path.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines, "the server wrote no log"

    secrets = [key for entry in ALL_KEYS.split(";") for key in [entry.split(":")[0]]]
    secrets += [LITERAL_KEY, ENV_KEY, HEADER_SECRET, BAD_FILE_KEY, "wrong-but-long-presented"]
    for secret in secrets:
        assert secret not in text, f"a secret reached the log: {secret[:6]}..."
    assert "[redacted]" in text  # the secret in a URL was masked, not dropped silently

    requests = [line for line in lines if line["logger"] == "billing.http"]
    assert all(line["request_id"] for line in requests)
    # Each of our requests has its line (the server's start-up /readyz polls add more).
    assert set(seen) <= {line["request_id"] for line in requests}, "a request without its line"
    assert all(
        {"ts", "level", "message", "status", "duration_ms"} <= line.keys() for line in requests
    )
    by_id = {line["request_id"]: line for line in requests}
    assert by_id["client-id-42"]["status"] == 200
    statuses = {seen[rid]: by_id[rid]["status"] for rid in seen}
    assert statuses["too big"] == 413 and statuses["reload bad"] == 422
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's lines too
