"""Webhooks through real `billing serve` processes: an event survives the service being
killed before its delivery, and two workers (two dispatchers in two processes) send
each event once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from testkit.databases import empty_tables
from tests.conftest import BillingServer, LiveServer
from tests.helpers import CLAUDE_CONFIG, event
from tests.webhooks.receiver import eventually, receiver

ENV = {
    "BILLING_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",  # the receiver is on 127.0.0.1
    "BILLING_WEBHOOK_BALANCE_LOW_CREDITS": "90000",  # below after one event
    "BILLING_WEBHOOK_RETRY_BASE_SECONDS": "0.05",
    "BILLING_WEBHOOK_RETRY_MAX_DELAY_SECONDS": "0.2",
    "BILLING_WEBHOOK_POLL_SECONDS": "0.1",
    # A send cut short by the kill is retried when its claim lapses: 2 x timeout + 5 s.
    "BILLING_WEBHOOK_TIMEOUT_SECONDS": "1",
}


def _deliveries(base: str, webhook_id: str) -> list[dict]:
    answer = httpx.get(f"{base}/v1/webhooks/{webhook_id}/deliveries", timeout=10)
    assert answer.status_code == 200, answer.text
    deliveries: list[dict] = answer.json()["deliveries"]
    return deliveries


def test_an_event_survives_a_killed_service(
    billing_server: BillingServer, db_url: str, write_config: Callable[[str], Path]
) -> None:
    config = write_config(CLAUDE_CONFIG)
    with receiver([500]) as hook:
        with billing_server(db_url, config=config, env=ENV) as first:
            created = httpx.post(
                f"{first.base}/v1/webhooks",
                json={"url": hook.url, "events": ["balance.low"]},
                timeout=10,
            )
            assert created.status_code == 201, created.text
            webhook = created.json()
            usage = httpx.post(f"{first.base}/v1/usage", json=event("e1", "alice"), timeout=10)
            assert usage.status_code == 200, usage.text
            hook.wait_for(1)  # the receiver is failing: the delivery waits for a retry
            first.process.kill()  # no shutdown of any kind
            first.wait()
        tried = len(hook.requests)
        hook.statuses = [200]
        with billing_server(db_url, config=config, env=ENV) as second:
            eventually(
                lambda: _deliveries(second.base, webhook["id"])[0]["status"] == "delivered",
                timeout=30,
            )
            (delivery,) = _deliveries(second.base, webhook["id"])
        assert len(hook.requests) > tried
        assert {r.webhook_id for r in hook.requests} == {delivery["event_id"]}
        bodies = hook.verified(webhook["secret"])
        assert {b["data"]["user_id"] for b in bodies} == {"alice"}


@pytest.mark.postgres
def test_two_workers_send_each_event_once(
    live_server: LiveServer, postgres_url: str, write_config: Callable[[str], Path]
) -> None:
    empty_tables(postgres_url)
    users = 30
    with (
        receiver() as hook,
        live_server(postgres_url, config=write_config(CLAUDE_CONFIG), workers=2, env=ENV) as base,
    ):
        created = httpx.post(
            f"{base}/v1/webhooks", json={"url": hook.url, "events": ["balance.low"]}, timeout=10
        )
        assert created.status_code == 201, created.text
        batch = {"events": [event(f"e{i}", f"user-{i:02d}") for i in range(users)]}
        assert httpx.post(f"{base}/v1/usage", json=batch, timeout=30).status_code == 200
        hook.wait_for(users)
        webhook_id = created.json()["id"]
        eventually(lambda: {d["status"] for d in _deliveries(base, webhook_id)} == {"delivered"})
    sent = Counter(request.webhook_id for request in hook.requests)
    assert len(sent) == users and set(sent.values()) == {1}
