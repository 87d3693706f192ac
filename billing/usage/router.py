"""POST /v1/quote and POST /v1/usage."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Body, Request, Response
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from billing import metrics
from billing.api.deps import IngestContext, IngestScope, SnapshotDep
from billing.api.errors import documented_errors
from billing.api.json_body import StrictJsonRoute, parsed_body, validated_body
from billing.api.openapi import inline_schema, json_request_body
from billing.api.schemas import CostOut
from billing.runtime import ConfigSnapshot
from billing.usage import service
from billing.usage.schemas import (
    MAX_EVENTS,
    QUOTE_EXAMPLES,
    USAGE_EXAMPLES,
    QuoteRequest,
    UsageBatchIn,
    UsageRequest,
    UsageResponse,
    usage_answer,
)

router = APIRouter(tags=["usage"], route_class=StrictJsonRoute)

# Validates POST /v1/usage and is its published request body: one model for both.
_usage_request: TypeAdapter[UsageRequest] = TypeAdapter(UsageRequest)


@router.post("/v1/quote", response_model=CostOut, dependencies=[IngestScope])
def quote(
    request: Annotated[QuoteRequest, Body(openapi_examples=QUOTE_EXAMPLES)], snapshot: SnapshotDep
) -> dict[str, object]:
    """Price one event without recording anything."""
    return service.quote(snapshot.prices, request).to_json()


# Bigger bodies are validated and priced off the event loop, so singles keep flowing.
_INLINE_EVENTS = 20


@router.post(
    "/v1/usage",
    openapi_extra=json_request_body(
        inline_schema(_usage_request), 'one usage event, or {"events": [...]}', USAGE_EXAMPLES
    ),
    responses={
        # Documents the answer; usage_answer builds it (FastAPI applies no response_model
        # to a Response), tests/usage/test_contract.py holds the two together.
        200: {"model": UsageResponse, "description": "Successful Response"},
        **documented_errors(
            {
                409: "idempotency_conflict: an event_id was already used with other content;"
                " the body adds event_id and differing_fields (names only), nothing is recorded"
            }
        ),
    },
)
async def post_usage(request: Request, context: IngestContext) -> Response:
    """Record one event or a batch (all-or-nothing); a repeated event_id with the
    same content is a duplicate, with other content 409 idempotency_conflict.

    The request validates and prices its events, then waits for the worker's
    group commit (billing/group_commit.py) to record them with whatever other
    ingest requests arrived meanwhile, in one transaction.
    """
    runtime, snapshot = context.runtime, context.snapshot
    body = parsed_body(request.scope)
    metrics.note_usage_body(body)  # how many events a refusal rejects
    limit = runtime.settings.max_batch_events
    now = runtime.clock()
    events = body.get("events") if isinstance(body, dict) else None
    if isinstance(events, list) and len(events) > _INLINE_EVENTS:
        priced = await run_in_threadpool(_priced, request.scope, snapshot, limit, now)
    else:
        priced = _priced(request.scope, snapshot, limit, now)
    done = runtime.group_commit.submit(service.record_requests, snapshot, priced, len(priced))
    outcomes = await asyncio.wrap_future(done)
    return Response(orjson.dumps(usage_answer(outcomes)), media_type="application/json")


def _priced(
    scope: Scope, snapshot: ConfigSnapshot, limit: int, now: datetime
) -> list[service.PricedEvent]:
    usage = validated_body(scope, _usage_request, context={MAX_EVENTS: limit}, tagged=True)
    if isinstance(usage, UsageBatchIn):
        return service.prepare_events(snapshot, usage.events, now, batch=True)
    return service.prepare_events(snapshot, [usage], now, batch=False)
