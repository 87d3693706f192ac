"""POST /v1/quote and POST /v1/usage."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import Discriminator, Tag, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from billing import metrics, money
from billing.api.deps import IngestContext, IngestScope, SnapshotDep
from billing.api.errors import documented_errors
from billing.api.json_body import StrictJsonRoute, parsed_body
from billing.api.openapi import inline_schema, json_request_body
from billing.api.schemas import CostOut
from billing.errors import InvalidRequest
from billing.reservations.schemas import SettlementOut
from billing.runtime import ConfigSnapshot
from billing.usage import service
from billing.usage.schemas import (
    QUOTE_EXAMPLES,
    USAGE_EXAMPLES,
    QuoteRequest,
    UsageBatchIn,
    UsageEventIn,
    UsageResponse,
)

router = APIRouter(tags=["usage"], route_class=StrictJsonRoute)


def _shape(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "events" in value else "event"


UsageBody = Annotated[
    Annotated[UsageBatchIn, Tag("batch")] | Annotated[UsageEventIn, Tag("event")],
    Discriminator(_shape),
]
_usage_body = TypeAdapter(UsageBody)
# The body is validated by hand below (to count refused events), so describe it here.
_usage_body_doc = inline_schema(_usage_body)
_usage_body_doc["oneOf"][0]["properties"]["events"]["minItems"] = 1


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
    response_model=UsageResponse,
    openapi_extra=json_request_body(
        _usage_body_doc, 'one usage event, or {"events": [...]}', USAGE_EXAMPLES
    ),
    responses=documented_errors(
        {
            409: "idempotency_conflict: an event_id was already used with other content;"
            " the body adds event_id and differing_fields (names only), nothing is recorded"
        }
    ),
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
        priced = await run_in_threadpool(_priced, body, snapshot, limit, now)
    else:
        priced = _priced(body, snapshot, limit, now)
    done = runtime.group_commit.submit(service.record_requests, snapshot, priced, len(priced))
    return _usage_response(await asyncio.wrap_future(done))


def _priced(
    body: Any, snapshot: ConfigSnapshot, limit: int, now: datetime
) -> list[service.PricedEvent]:
    try:
        payload = _usage_body.validate_python(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**err, "loc": ("body", *err["loc"][1:])} for err in exc.errors()]
        ) from None
    batch = isinstance(payload, UsageBatchIn)
    events = payload.events if isinstance(payload, UsageBatchIn) else [payload]
    if len(events) > limit:
        raise InvalidRequest(f"events: a batch holds at most {limit} events, got {len(events)}")
    if not events:
        raise InvalidRequest("events: must not be empty")
    return service.prepare_events(snapshot, events, now, batch=batch)


def _usage_response(outcomes: list[service.EventOutcome]) -> Response:
    """The UsageResponse JSON, built as plain data and encoded once.

    Building and re-validating an EventResult and CostOut per event cost ~15x
    more than the encoding (make bench); ``o.cost`` is already the CostOut
    shape (Cost.to_json, or that same JSON stored with the event).
    """
    results: list[dict[str, Any]] = [
        {
            "event_id": o.event_id,
            "status": "accepted" if o.status == "accepted" else "duplicate",
            "cost": o.cost,
            "balance": None if o.balance_micro is None else money.credits_str(o.balance_micro),
            "reservation": None
            if o.reservation is None
            else SettlementOut.of(o.reservation).model_dump(mode="json"),
        }
        for o in outcomes
    ]
    for result, o in zip(results, outcomes, strict=True):
        if o.warnings:  # rare: the key is left out otherwise
            result["warnings"] = [w.to_json() for w in o.warnings]
    accepted = sum(1 for r in results if r["status"] == "accepted")
    body = {"accepted": accepted, "duplicates": len(results) - accepted, "events": results}
    return Response(orjson.dumps(body), media_type="application/json")
