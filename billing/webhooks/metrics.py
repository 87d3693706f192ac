"""Webhook metrics (named like those of billing/metrics.py): deliveries and the backlog."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Counter, Gauge

from billing.webhooks.events import EVENT_TYPES

# delivered: a 2xx answer; retry: an attempt failed, another is scheduled;
# failed: the last attempt failed and the retry window is over (given up).
OUTCOMES = ("delivered", "retry", "failed")

DELIVERIES = Counter(
    "billing_webhook_deliveries_total",
    "Webhook delivery attempts by event type and outcome: delivered, retry"
    " (failed, another attempt is scheduled), failed (given up)",
    ["type", "outcome"],
)
BACKLOG = Gauge(
    "billing_webhook_backlog",
    "Webhook deliveries not yet delivered or given up (the outbox backlog)",
    multiprocess_mode="livemax",
)
OLDEST_PENDING_AGE = Gauge(
    "billing_webhook_oldest_pending_age_seconds",
    "Age of the oldest webhook delivery still pending (0 when none is)",
    multiprocess_mode="livemax",
)

for _type in EVENT_TYPES:
    for _outcome in OUTCOMES:
        DELIVERIES.labels(_type, _outcome)


def record_attempt(event_type: str, outcome: str) -> None:
    DELIVERIES.labels(event_type if event_type in EVENT_TYPES else "other", outcome).inc()


def record_backlog(pending: int, oldest_created_at: datetime | None, now: datetime) -> None:
    BACKLOG.set(pending)
    age = 0.0 if oldest_created_at is None else (now - oldest_created_at).total_seconds()
    OLDEST_PENDING_AGE.set(max(age, 0.0))
