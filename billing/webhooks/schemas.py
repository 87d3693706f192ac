"""Bodies of the /v1/webhooks routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from fastapi.openapi.models import Example
from pydantic import BaseModel, Field

from billing.api.schemas import StrictModel
from billing.webhooks.types import DeliveryView, Webhook
from billing.webhooks.urls import MAX_URL_LENGTH

EventType = Literal["budget.threshold", "budget.exceeded", "balance.low", "pricing.unpriced_model"]
DeliveryStatus = Literal["pending", "delivered", "failed"]


class WebhookIn(StrictModel):
    url: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_URL_LENGTH,
            description="http(s) URL the events are POSTed to; private, loopback and link-local"
            " addresses are refused unless BILLING_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true",
        ),
    ]
    events: Annotated[
        list[EventType],
        Field(min_length=1, max_length=10, description="the event types to deliver"),
    ]


WEBHOOK_EXAMPLES: dict[str, Example] = {
    "balances": {
        "summary": "low balances and models without a price",
        "value": {
            "url": "https://hooks.example.com/billing",
            "events": ["balance.low", "pricing.unpriced_model"],
        },
    }
}


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[EventType]
    created_at: datetime

    @classmethod
    def of(cls, webhook: Webhook) -> Self:
        return cls(
            id=webhook.id, url=webhook.url, events=webhook.events, created_at=webhook.created_at
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="whsec_... : verifies the webhook-signature header of every delivery"
        " (Standard Webhooks); shown only in this answer"
    )

    @classmethod
    def of_new(cls, webhook: Webhook) -> Self:
        return cls(**WebhookOut.of(webhook).model_dump(), secret=webhook.secret)


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: int
    webhook_id: str
    event_id: str = Field(description="the webhook-id header: the same on every attempt")
    type: EventType
    status: DeliveryStatus = Field(
        description="pending (not yet delivered, or retrying), delivered (a 2xx answer),"
        " failed (retries given up)"
    )
    attempts: int
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None = Field(description="when a pending delivery is tried next")
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, view: DeliveryView) -> Self:
        return cls(
            id=view.id,
            webhook_id=view.endpoint_id,
            event_id=view.message_id,
            type=view.event_type,
            status=view.status,
            attempts=view.attempts,
            last_attempt_at=view.last_attempt_at,
            last_status_code=view.last_status_code,
            last_error=view.last_error,
            next_attempt_at=view.next_attempt_at,
            delivered_at=view.delivered_at,
            created_at=view.created_at,
        )


class DeliveryPage(BaseModel):
    deliveries: list[DeliveryOut]
    next_cursor: str | None = Field(description="pass as cursor for older deliveries")
