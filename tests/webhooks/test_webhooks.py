"""Webhooks over the real app and a real receiver on 127.0.0.1, on SQLite and PostgreSQL:
signed deliveries retried with the same webhook-id, events fired once, the outbox
surviving a restart, URLs checked."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from billing.models import WebhookDelivery, WebhookEvent
from billing.webhooks.dispatcher import retry_delay
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event
from tests.webhooks.receiver import eventually, receiver

# Each event of tests.helpers.event costs 11250 credits; users start with 100000.
FAST: dict[str, Any] = {
    "webhook_allow_private_networks": True,  # the receiver is on 127.0.0.1
    "webhook_retry_base_seconds": 0.05,
    "webhook_retry_max_delay_seconds": 0.2,
    "webhook_poll_seconds": 0.05,
    "webhook_balance_low_credits": "90000",
}


def _subscribe(client: TestClient, url: str, *events: str) -> dict[str, Any]:
    answer = client.post("/v1/webhooks", json={"url": url, "events": list(events)})
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def _deliveries(client: TestClient, webhook_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/v1/webhooks/{webhook_id}/deliveries")
    assert answer.status_code == 200, answer.text
    deliveries: list[dict[str, Any]] = answer.json()["deliveries"]
    return deliveries


def _charge(client: TestClient, *events: dict[str, Any]) -> None:
    answer = client.post("/v1/usage", json={"events": list(events)})
    assert answer.status_code == 200, answer.text


def test_create_list_delete(make_client: AppFactory) -> None:
    client = make_client(**FAST)
    created = _subscribe(client, "https://hooks.example.com/billing", "balance.low")
    assert created["id"].startswith("wh_") and created["secret"].startswith("whsec_")
    assert created["events"] == ["balance.low"] and created["url"].endswith("/billing")
    Webhook(created["secret"])  # a secret the library accepts
    listed = client.get("/v1/webhooks").json()["webhooks"]
    assert [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0]  # shown once, at creation
    assert client.delete(f"/v1/webhooks/{created['id']}").status_code == 204
    assert client.get("/v1/webhooks").json()["webhooks"] == []
    again = client.delete(f"/v1/webhooks/{created['id']}")
    assert again.status_code == 404 and again.json()["error"] == "webhook_not_found"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "ftp://203.0.114.1/hook",
        "https://user:pw@hooks.example.com/hook",
        "not a url",
    ],
)
def test_private_and_non_http_urls_are_refused(make_client: AppFactory, url: str) -> None:
    client = make_client()  # BILLING_WEBHOOK_ALLOW_PRIVATE_NETWORKS unset
    answer = client.post("/v1/webhooks", json={"url": url, "events": ["balance.low"]})
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "invalid_request" and body["detail"].startswith("url: ")
    assert client.get("/v1/webhooks").json()["webhooks"] == []


def test_private_urls_are_allowed_with_the_setting(make_client: AppFactory) -> None:
    client = make_client(webhook_allow_private_networks=True)
    assert _subscribe(client, "http://127.0.0.1:9/hook", "balance.low")["url"]


def test_unknown_event_type_is_refused(make_client: AppFactory) -> None:
    client = make_client(**FAST)
    answer = client.post(
        "/v1/webhooks", json={"url": "https://hooks.example.com/x", "events": ["balance.high"]}
    )
    assert answer.status_code == 422 and "events" in answer.json()["detail"]


def test_failed_deliveries_are_retried_with_the_same_id_and_signature(
    make_client: AppFactory,
) -> None:
    with receiver([500, 503, 200]) as hook:
        client = make_client(CLAUDE_CONFIG, **FAST)
        before = _attempt_counts(client)
        webhook = _subscribe(client, hook.url, "balance.low")
        _charge(client, event("e1", "alice"))  # 100000 - 11250 < 90000
        requests = hook.wait_for(3)
        assert len({r.webhook_id for r in requests}) == 1  # one event, three attempts
        bodies = hook.verified(webhook["secret"])  # the library's own check
        assert bodies[0] == bodies[2]
        assert bodies[0]["type"] == "balance.low" and bodies[0]["timestamp"]
        assert bodies[0]["data"] == {
            "user_id": "alice",
            "balance_credits": "88750",
            "threshold_credits": "90000",
        }
        eventually(lambda: _deliveries(client, webhook["id"])[0]["status"] == "delivered")
        (delivery,) = _deliveries(client, webhook["id"])
        assert delivery["attempts"] == 3 and delivery["last_status_code"] == 200
        assert delivery["event_id"] == requests[0].webhook_id and delivery["last_error"] is None
        assert delivery["next_attempt_at"] is None and delivery["delivered_at"]
        assert len(hook.requests) == 3
        after = _attempt_counts(client)
        assert after["retry"] - before["retry"] == 2
        assert after["delivered"] - before["delivered"] == 1
        assert after["failed"] == before["failed"]


def _attempt_counts(client: TestClient) -> dict[str, float]:
    """billing_webhook_deliveries_total{type="balance.low"} by outcome, from /metrics."""
    counts = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if (
                sample.name == "billing_webhook_deliveries_total"
                and sample.labels["type"] == "balance.low"
            ):
                counts[sample.labels["outcome"]] = sample.value
    return counts


def test_a_tampered_body_fails_verification(make_client: AppFactory) -> None:
    with receiver() as hook:
        client = make_client(CLAUDE_CONFIG, **FAST)
        webhook = _subscribe(client, hook.url, "balance.low")
        _charge(client, event("e1", "alice"))
        (request,) = hook.wait_for(1)
        Webhook(webhook["secret"]).verify(request.body, request.headers)
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            Webhook(webhook["secret"]).verify(
                request.body.replace(b"alice", b"mallory"), request.headers
            )


def test_giving_up_then_manual_redelivery(make_client: AppFactory) -> None:
    with receiver([500]) as hook:
        client = make_client(CLAUDE_CONFIG, **FAST, webhook_give_up_after_seconds=0.3)
        webhook = _subscribe(client, hook.url, "balance.low")
        _charge(client, event("e1", "alice"))
        eventually(lambda: _deliveries(client, webhook["id"])[0]["status"] == "failed")
        (failed,) = _deliveries(client, webhook["id"])
        assert failed["last_error"] == "HTTP 500" and failed["next_attempt_at"] is None
        attempts = failed["attempts"]
        hook.statuses = [200]
        answer = client.post(f"/v1/webhooks/{webhook['id']}/deliveries/{failed['id']}/redeliver")
        assert answer.status_code == 202 and answer.json()["status"] == "pending"
        eventually(lambda: _deliveries(client, webhook["id"])[0]["status"] == "delivered")
        assert _deliveries(client, webhook["id"])[0]["attempts"] == attempts + 1
        assert len({r.webhook_id for r in hook.requests}) == 1
        missing = client.post(f"/v1/webhooks/{webhook['id']}/deliveries/999999/redeliver")
        assert missing.status_code == 404 and missing.json()["error"] == "delivery_not_found"


def test_redirects_are_not_followed(make_client: AppFactory) -> None:
    with receiver([302]) as hook:
        client = make_client(CLAUDE_CONFIG, **FAST)
        webhook = _subscribe(client, hook.url, "balance.low")
        _charge(client, event("e1", "alice"))
        eventually(lambda: _deliveries(client, webhook["id"])[0]["attempts"] >= 2)
        assert {r.path for r in hook.requests} == {"/hook"}  # never /elsewhere
        error = _deliveries(client, webhook["id"])[0]["last_error"]
        assert error == "HTTP 302: redirects are not followed"


def test_a_private_address_is_refused_at_delivery_time_too(
    make_client: AppFactory, db_url: str
) -> None:
    """Created while allowed; a dispatcher without the setting refuses to call it."""
    with receiver() as hook:
        client = make_client(CLAUDE_CONFIG, **{**FAST, "webhook_dispatcher": False})
        webhook = _subscribe(client, hook.url, "balance.low")
        _charge(client, event("e1", "alice"))
        client.close()
        strict = make_client(CLAUDE_CONFIG, **{**FAST, "webhook_allow_private_networks": False})
        eventually(lambda: _deliveries(strict, webhook["id"])[0]["attempts"] >= 1)
        error = _deliveries(strict, webhook["id"])[0]["last_error"]
        assert error.startswith("refused: 127.0.0.1 resolves to a private")
        assert hook.requests == []


def test_balance_low_fires_once_and_rearms_when_the_balance_rises(
    make_client: AppFactory,
) -> None:
    with receiver() as hook:
        client = make_client(CLAUDE_CONFIG, **FAST)
        webhook = _subscribe(client, hook.url, "balance.low")
        _charge(client, event("e1", "alice"), event("e2", "bob"))  # both 88750: fire
        _charge(client, event("e3", "alice"))  # still low: armed no more
        grant = client.post("/v1/balances/alice/credits", json={"amount": "5000"})
        assert grant.status_code == 200, grant.text  # 82500: still below, stays fired
        _charge(client, event("e4", "alice"))
        grant = client.post("/v1/balances/alice/credits", json={"amount": "50000"})
        assert grant.status_code == 200, grant.text  # 121250: re-armed
        _charge(client, event("e5", "alice"))  # 110000: above, nothing
        put = client.put("/v1/balances/alice", json={"credits": "10"})
        assert put.status_code == 200, put.text  # set below: fires again
        hook.wait_for(3)
        eventually(
            lambda: all(d["status"] == "delivered" for d in _deliveries(client, webhook["id"]))
        )
        data = [body["data"] for body in hook.verified(webhook["secret"])]
        assert sorted((d["user_id"], d["balance_credits"]) for d in data) == [
            ("alice", "10"),
            ("alice", "88750"),
            ("bob", "88750"),
        ]


def test_unpriced_model_fires_once_per_endpoint_and_model(make_client: AppFactory) -> None:
    with receiver() as hook:
        client = make_client(CLAUDE_CONFIG, **FAST)
        webhook = _subscribe(client, hook.url, "pricing.unpriced_model")
        mystery = {"model": "mystery-model-9000"}
        _charge(client, event("e1", "alice", **mystery), event("e2", "bob", **mystery))
        _charge(client, event("e3", "alice", **mystery), event("e4", "alice"))
        _charge(client, event("e5", "alice", model="mystery-model-9001"))
        hook.wait_for(2)
        eventually(lambda: len(_deliveries(client, webhook["id"])) == 2)
        data = [body["data"] for body in hook.verified(webhook["secret"])]
        assert sorted((d["endpoint"], d["model"]) for d in data) == [
            ("Claude-Compatible", "mystery-model-9000"),
            ("Claude-Compatible", "mystery-model-9001"),
        ]
        assert all(d["priced_by"] == "fallback" and "tokenConfig" in d["hint"] for d in data)
        assert len(hook.requests) == 2


def test_an_event_nobody_subscribes_to_writes_nothing(make_client: AppFactory, db_url: str) -> None:
    client = make_client(CLAUDE_CONFIG, **FAST)
    _subscribe(client, "https://hooks.example.com/x", "budget.exceeded")
    _charge(client, event("e1", "alice", model="mystery-model-9000"))
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    engine.dispose()


def test_a_committed_event_is_delivered_after_a_restart(make_client: AppFactory) -> None:
    """Committed with the ledger change, then the service stopped before any delivery:
    the next start delivers it."""
    with receiver() as hook:
        first = make_client(CLAUDE_CONFIG, **{**FAST, "webhook_dispatcher": False})
        webhook = _subscribe(first, hook.url, "balance.low")
        _charge(first, event("e1", "alice"))
        first.close()  # the app stops; nothing was sent
        assert hook.requests == []
        second = make_client(CLAUDE_CONFIG, **FAST)
        assert len(hook.wait_for(1)) == 1
        assert hook.verified(webhook["secret"])[0]["data"]["user_id"] == "alice"
        eventually(lambda: _deliveries(second, webhook["id"])[0]["status"] == "delivered")


def test_a_refused_batch_emits_nothing(make_client: AppFactory, db_url: str) -> None:
    """The outbox shares the ledger's transaction: a rolled-back batch leaves no event."""
    client = make_client(CLAUDE_CONFIG, **{**FAST, "webhook_dispatcher": False})
    _subscribe(client, "http://127.0.0.1:9/hook", "balance.low", "pricing.unpriced_model")
    _charge(client, event("e1", "alice"))
    conflicting = event("e1", "alice", model="mystery-model-9000")  # same id, other content
    answer = client.post("/v1/usage", json={"events": [event("e2", "bob"), conflicting]})
    assert answer.status_code == 409
    engine = create_engine(db_url)
    with engine.connect() as conn:
        types = conn.scalars(select(WebhookEvent.type)).all()
        deliveries = conn.scalar(select(func.count()).select_from(WebhookDelivery))
    engine.dispose()
    assert types == ["balance.low"] and deliveries == 1  # alice's only, from e1


def test_retry_delays_grow_with_jitter_up_to_the_cap() -> None:
    for attempt, full in ((1, 5.0), (2, 10.0), (3, 20.0), (12, 3600.0), (500, 3600.0)):
        delays = [retry_delay(attempt, 5.0, 3600.0) for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays)
        assert len(set(delays)) > 1


def test_budget_alerts_are_delivered_signed(make_client: AppFactory) -> None:
    """Budget events go through the same outbox: written with the spend, delivered once."""
    with receiver() as hook:
        client = make_client(CLAUDE_CONFIG, **FAST)
        webhook = _subscribe(client, hook.url, "budget.threshold", "budget.exceeded")
        budget = {"limit_credits": "20000", "period": "month"}
        assert client.put("/v1/users/alice/budget", json=budget).status_code == 200
        _charge(client, event("e1", "alice"))  # 11250 of 20000: 50% crossed
        _charge(client, event("e2", "alice"))  # 22500: 80%, 100% and above the limit
        hook.wait_for(4)
        bodies = hook.verified(webhook["secret"])
        kinds = [(b["type"], b["data"].get("threshold")) for b in bodies]
        assert sorted(kinds, key=str) == sorted(
            [
                ("budget.threshold", "0.5"),
                ("budget.threshold", "0.8"),
                ("budget.threshold", "1"),
                ("budget.exceeded", None),
            ],
            key=str,
        )
        assert {b["data"]["user_id"] for b in bodies} == {"alice"}
        assert bodies[-1]["data"]["limit_credits"] == "20000"
        eventually(
            lambda: {d["status"] for d in _deliveries(client, webhook["id"])} == {"delivered"}
        )
        assert len(hook.requests) == 4
