"""The outbox: events written in the transaction of the change that caused them.

Fan-out happens here, at emit time: the event row gets one delivery row per
endpoint subscribed to its type right now. An event no endpoint subscribes to
writes nothing. Everything commits or rolls back with the caller's
transaction, so a crash can neither lose an event of a committed change nor
invent one for a change that never happened; the dispatcher only ever sees
committed rows.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from billing import session_events
from billing.clock import utc_now
from billing.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from billing.models.webhook_delivery import PENDING
from billing.webhooks import events, wakeup

# How long deliveries are retried unless the session says otherwise (billing/webhooks/hooks.py).
DEFAULT_GIVE_UP_AFTER = timedelta(days=1)
GIVE_UP_AFTER_KEY = "billing.webhooks.give_up_after"


def emit(
    session: Session, event_type: str, data: dict[str, Any], *, now: datetime | None = None
) -> None:
    """Record one ``event_type`` event with ``data`` (JSON-ready: money as decimal
    strings) in the caller's transaction, for delivery once it commits."""
    emit_many(session, event_type, [data], now=now)


def emit_many(
    session: Session,
    event_type: str,
    data: Sequence[dict[str, Any]],
    *,
    now: datetime | None = None,
) -> None:
    """One event per item of ``data``, set-based: three statements however many."""
    if event_type not in events.EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if not data:
        return
    endpoints = [
        endpoint_id
        for endpoint_id, subscribed in session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.events)
        )
        if event_type in orjson.loads(subscribed)
    ]
    if not endpoints:
        return
    now = now or utc_now()
    event_rows = [
        {
            "message_id": new_message_id(),
            "type": event_type,
            "body": events.body(event_type, now, item),
            "created_at": now,
        }
        for item in data
    ]
    event_ids = session.scalars(
        insert(WebhookEvent).returning(WebhookEvent.id, sort_by_parameter_order=True),
        event_rows,
    ).all()
    give_up_after: timedelta = session.info.get(GIVE_UP_AFTER_KEY, DEFAULT_GIVE_UP_AFTER)
    session.execute(
        insert(WebhookDelivery),
        [
            {
                "event_id": event_id,
                "endpoint_id": endpoint_id,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "give_up_at": now + give_up_after,
                "created_at": now,
            }
            for event_id in event_ids
            for endpoint_id in endpoints
        ],
    )
    # This process's dispatcher need not wait for its next poll.
    session_events.after_commit(session, wakeup.notify)


def new_message_id() -> str:
    """The webhook-id of an event: the same on every retry and every endpoint."""
    return "msg_" + secrets.token_urlsafe(18)
