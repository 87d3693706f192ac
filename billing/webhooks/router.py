"""/v1/webhooks: subscribe endpoints to events, list and delete them, inspect and
redeliver their deliveries. Admin only: a webhook receives every user's events."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response

from billing.api.deps import AdminActor, AdminScope, RuntimeDep, SessionDep
from billing.api.errors import documented_errors
from billing.api.json_body import StrictJsonRoute
from billing.api.schemas import CURSOR_PATTERN, ID_PATTERN
from billing.webhooks import service
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


_NOT_FOUND = documented_errors({404: "webhook_not_found"})


@router.post("/v1/webhooks", status_code=201, response_model=WebhookCreated)
def create_webhook(
    body: Annotated[WebhookIn, Body(openapi_examples=WEBHOOK_EXAMPLES)],
    runtime: RuntimeDep,
    session: SessionDep,
    actor: AdminActor,
) -> WebhookCreated:
    """Deliver the listed events to ``url``, signed per Standard Webhooks with the
    ``secret`` of this answer (the only time it is shown)."""
    endpoint = service.create(
        session,
        body.url,
        list(body.events),
        allow_private=runtime.settings.webhook_allow_private_networks,
        now=runtime.clock(),
        actor=actor,
    )
    return WebhookCreated.of_new(endpoint)


@router.get("/v1/webhooks", response_model=WebhookList)
def list_webhooks(session: SessionDep) -> WebhookList:
    return WebhookList(webhooks=[WebhookOut.of(w) for w in service.list_all(session)])


@router.delete("/v1/webhooks/{webhook_id}", status_code=204, responses=_NOT_FOUND)
def delete_webhook(
    webhook_id: WebhookIdPath, runtime: RuntimeDep, session: SessionDep, actor: AdminActor
) -> Response:
    """Stop delivering to this endpoint; its pending deliveries are dropped."""
    service.delete(session, webhook_id, actor=actor, now=runtime.clock())
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
        deliveries=[DeliveryOut.of(view) for view in views],
        next_cursor=str(views[-1].id) if len(views) == limit else None,
    )


@router.post(
    "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryOut,
    responses=documented_errors({404: "webhook_not_found or delivery_not_found"}),
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
    actor: AdminActor,
) -> DeliveryOut:
    """Send this delivery again now (same webhook-id), with a fresh retry window."""
    settings = runtime.settings
    view = service.redeliver(
        session,
        webhook_id,
        delivery_id,
        give_up_after=timedelta(seconds=settings.webhook_give_up_after_seconds),
        now=runtime.clock(),
        actor=actor,
    )
    return DeliveryOut.of(view)
