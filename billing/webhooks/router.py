"""/v1/webhooks: subscribe endpoints to events, list and delete them, inspect and
redeliver their deliveries. Admin only: a webhook receives every user's events."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response

from billing.api.deps import AdminScope, RuntimeDep, SessionDep
from billing.api.errors import ERROR_SCHEMA
from billing.api.json_body import StrictJsonRoute
from billing.api.schemas import CURSOR_PATTERN, ID_PATTERN
from billing.models import WebhookEndpoint
from billing.webhooks import service
from billing.webhooks.repository import DeliveryView
from billing.webhooks.schemas import (
    WEBHOOK_EXAMPLES,
    DeliveryOut,
    DeliveryPage,
    DeliveryStatus,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
)

router = APIRouter(tags=["webhooks"], route_class=StrictJsonRoute, dependencies=[AdminScope])

WebhookIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=40,
        pattern=ID_PATTERN,
        description="the id POST /v1/webhooks returned",
        examples=["wh_0123456789abcdef01234567"],
    ),
]


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _error("webhook_not_found")}


def _webhook(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": service.events_of(endpoint),
        "created_at": endpoint.created_at,
    }


def _delivery(view: DeliveryView) -> DeliveryOut:
    return DeliveryOut(
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


@router.post("/v1/webhooks", status_code=201, response_model=WebhookCreated)
def create_webhook(
    body: Annotated[WebhookIn, Body(openapi_examples=WEBHOOK_EXAMPLES)],
    runtime: RuntimeDep,
    session: SessionDep,
) -> WebhookCreated:
    """Deliver the listed events to ``url``, signed per Standard Webhooks with the
    ``secret`` of this answer (the only time it is shown)."""
    endpoint = service.create(
        session,
        body.url,
        list(body.events),
        allow_private=runtime.settings.webhook_allow_private_networks,
        now=runtime.clock(),
    )
    return WebhookCreated(**_webhook(endpoint), secret=endpoint.secret)


@router.get("/v1/webhooks", response_model=WebhookList)
def list_webhooks(session: SessionDep) -> WebhookList:
    return WebhookList(webhooks=[WebhookOut(**_webhook(e)) for e in service.list_all(session)])


@router.delete("/v1/webhooks/{webhook_id}", status_code=204, responses=_NOT_FOUND)
def delete_webhook(webhook_id: WebhookIdPath, session: SessionDep) -> Response:
    """Stop delivering to this endpoint; its pending deliveries are dropped."""
    service.delete(session, webhook_id)
    return Response(status_code=204)


@router.get(
    "/v1/webhooks/{webhook_id}/deliveries", response_model=DeliveryPage, responses=_NOT_FOUND
)
def list_deliveries(
    webhook_id: WebhookIdPath,
    session: SessionDep,
    status: Annotated[
        DeliveryStatus | None, Query(description="only deliveries in this state")
    ] = None,
    cursor: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, description="next_cursor of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="deliveries per page")] = 100,
) -> DeliveryPage:
    """Newest first: status, attempts, the last error and when the next try is due."""
    views = service.deliveries(
        session,
        webhook_id,
        status=status,
        before=int(cursor) if cursor is not None else None,
        limit=limit,
    )
    return DeliveryPage(
        deliveries=[_delivery(view) for view in views],
        next_cursor=str(views[-1].id) if len(views) == limit else None,
    )


@router.post(
    "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryOut,
    responses={404: _error("webhook_not_found or delivery_not_found")},
)
def redeliver(
    webhook_id: WebhookIdPath,
    delivery_id: Annotated[
        str,
        Path(
            min_length=1,
            max_length=40,
            pattern=ID_PATTERN,
            description="the id of a delivery of this webhook (from its deliveries)",
            examples=["1"],
        ),
    ],
    runtime: RuntimeDep,
    session: SessionDep,
) -> DeliveryOut:
    """Send this delivery again now (same webhook-id), with a fresh retry window."""
    settings = runtime.settings
    view = service.redeliver(
        session,
        webhook_id,
        delivery_id,
        give_up_after=timedelta(seconds=settings.webhook_give_up_after_seconds),
        now=runtime.clock(),
    )
    return _delivery(view)
