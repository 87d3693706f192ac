"""The gateway in a real `billing serve`: a client leaving mid-stream, one user's
concurrent calls racing for the last credits, and the LibreChat block command."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import LiveServer, RunBilling
from tests.gateway.support import (
    API_KEYS,
    CLAUDE,
    GATEWAY_KEY,
    GPT,
    balance,
    identity,
    reservations,
    set_balance,
    usage_rows,
    wait_events,
    write,
)
from tests.gateway.upstream import COMPLETION_TOKENS, PROMPT_TOKENS, FakeUpstream

GPT_COST = Decimal("0.15") * PROMPT_TOKENS + Decimal("0.6") * COMPLETION_TOKENS


@pytest.fixture(params=["per-call holds", "leases"])
def base(
    request: pytest.FixtureRequest,
    live_server: LiveServer,
    db_url: str,
    tmp_path: Path,
    gateway_config: str,
) -> Iterator[str]:
    """A gateway holding each call in the database, or (the default) against its
    credit leases; two workers on PostgreSQL: the race below then crosses processes."""
    workers = 2 if db_url.startswith("postgresql") else 1
    env = {"BILLING_API_KEYS": API_KEYS}
    if request.param == "per-call holds":
        env["BILLING_GATEWAY_LEASE_CALLS"] = "0"
    with live_server(
        db_url, config=write(tmp_path, gateway_config), env=env, workers=workers
    ) as url:
        yield url


def _wait_for(check: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/gateway/OpenAI-Up/v1/chat/completions",
            {"model": GPT, "messages": [{"role": "user", "content": "Say hello"}], "stream": True},
        ),
        (
            "/gateway/Claude-Up/v1/messages",
            {
                "model": CLAUDE,
                "max_tokens": 100,
                "messages": [{"role": "user", "content": "Say hello"}],
                "stream": True,
            },
        ),
    ],
    ids=["openai", "anthropic"],
)
def test_a_client_leaving_mid_stream_cancels_the_upstream_and_is_billed_incomplete(
    base: str, upstream: FakeUpstream, path: str, body: dict[str, Any]
) -> None:
    upstream.mode = "slow_stream"
    headers = {"Authorization": f"Bearer {GATEWAY_KEY}", **identity("leaver")}
    with httpx.stream("POST", base + path, json=body, headers=headers, timeout=10) as answer:
        assert answer.status_code == 200
        event_id = answer.headers["x-billing-event-id"]
        received = b""
        for chunk in answer.iter_raw():
            received += chunk
            if received.count(b"Hello") >= 3:
                break  # the client goes away with the stream still running
    assert upstream.cancelled.wait(5), "the upstream request was not cancelled"
    rows = _wait_for(lambda: [r for r in usage_rows(base, "leaver") if r["event_id"] == event_id])
    assert rows, "the abandoned stream was not recorded"
    assert {r["context"] for r in rows} == {"incomplete"}
    tokens = {r["token_type"]: r["tokens"] for r in rows}
    assert tokens["completion"] >= 3  # at least the three "Hello"s the client saw
    if "messages" in path:
        assert tokens["prompt"] == PROMPT_TOKENS  # message_start counted the input exactly
    (hold,) = reservations(base, "leaver")
    if hold["kind"] == "lease":  # drawn from, and still holding the rest for later calls
        assert hold["status"] == "active"
    else:
        assert hold["status"] == "settled" and hold["settled_event_id"] == event_id


def test_concurrent_calls_of_one_user_never_spend_beyond_the_holds(
    base: str, upstream: FakeUpstream
) -> None:
    upstream.delay = 0.2  # the calls overlap: each holds its estimate while the upstream works
    # Each call holds 8 prompt tokens and max_tokens 100: 1.2 + 60 = 61.2 credits; it is
    # charged 8.85. 300 credits cover four holds at once, not five.
    set_balance(base, "racer", "300")
    body = {"model": GPT, "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 100}
    served = _race(base, "racer", body, 32)
    # The estimate never undershoots here, so the balance can never go below zero;
    # every served call is charged exactly once, every refused one not at all.
    assert Decimal(0) <= balance(base, "racer") == Decimal(300) - served * GPT_COST
    assert len(upstream.received) == served
    # Each served call settled its own hold or drew from a worker's lease (active).
    holds = reservations(base, "racer")
    assert {h["status"] for h in holds if h["kind"] == "lease"} <= {"active"}
    settled = [h for h in holds if h["kind"] == "hold"]
    assert {h["status"] for h in settled} <= {"settled"}
    assert len(settled) <= served


def test_many_calls_of_one_user_on_two_workers_never_spend_past_the_balance(
    base: str, upstream: FakeUpstream
) -> None:
    """Calls estimated close to their cost (a longer prompt than the upstream counts,
    10 completion tokens), 64 of them at once for 100 credits: with leases, both
    workers lease and hold calls in memory, and per-call holds take the rest."""
    upstream.delay = 0.05
    set_balance(base, "crowd", "100")
    prompt = "Please say hello. " * 12  # estimated ~58 tokens; the upstream counts 19
    body = {"model": GPT, "messages": [{"role": "user", "content": prompt}], "max_tokens": 10}
    served = _race(base, "crowd", body, 64)
    # Every estimate was above the real cost: the balance cannot go below zero, and
    # each served call was charged exactly once.
    assert Decimal(0) <= balance(base, "crowd") == Decimal(100) - served * GPT_COST
    assert len(upstream.received) == served


def _race(base: str, user_id: str, body: dict[str, Any], calls: int) -> int:
    """``calls`` calls of one user, 16 at a time; how many were served (the rest
    refused with 402), once their usage events are all recorded."""
    headers = {"Authorization": f"Bearer {GATEWAY_KEY}", **identity(user_id)}

    def call(_: int) -> int:
        return httpx.post(
            f"{base}/gateway/OpenAI-Up/v1/chat/completions", json=body, headers=headers, timeout=30
        ).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(call, range(calls)))
    assert set(statuses) <= {200, 402}, statuses
    served = statuses.count(200)
    assert served >= 4 and statuses.count(402) > 0, statuses
    wait_events(base, user_id, served)
    return served


def test_librechat_yaml_points_every_custom_endpoint_at_the_gateway(
    run_billing: RunBilling, sqlite_url: str, tmp_path: Path, gateway_config: str
) -> None:
    config = write(tmp_path, gateway_config)
    done = run_billing(
        "gateway",
        "librechat-yaml",
        "--url",
        "https://billing.example:8443",
        database_url=sqlite_url,
        env={"BILLING_CONFIG": str(config)},
    )
    assert done.returncode == 0, done.stderr
    assert "# skipped BYOK: user_provided" in done.stdout
    block = yaml.safe_load(done.stdout)
    entries = {e["name"]: e for e in block["endpoints"]["custom"]}
    assert set(entries) == {"OpenAI-Up", "Claude-Up", "Down", "Unset", "Fetching"}
    openai_up = entries["OpenAI-Up"]
    assert openai_up["baseURL"] == "https://billing.example:8443/gateway/OpenAI-Up/v1"
    assert openai_up["apiKey"] == "${BILLING_GATEWAY_KEY}"
    assert openai_up["headers"] == {
        "X-Billing-User-Id": "{{LIBRECHAT_USER_ID}}",
        "X-Billing-User-Role": "{{LIBRECHAT_USER_ROLE}}",
        "X-Billing-Conversation-Id": "{{LIBRECHAT_BODY_CONVERSATIONID}}",
        "X-Billing-Message-Id": "{{LIBRECHAT_BODY_MESSAGEID}}",
    }
    assert "addParams" not in openai_up and "dropParams" not in openai_up  # billing applies them
    assert openai_up["models"] == {"default": [GPT]}
    claude = entries["Claude-Up"]
    assert claude["provider"] == "anthropic"
    assert claude["baseURL"] == "https://billing.example:8443/gateway/Claude-Up"  # the API root
    assert "sk-" not in done.stdout  # no upstream key leaves billing's config
