"""POST /v1/quote and POST /v1/usage."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, ParamSpec, cast

import orjson
from fastapi import APIRouter, Body, Request, Response
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from billing import metrics
from billing.api.deps import Context, IngestContext, IngestScope, SnapshotDep
from billing.api.direct_route import DirectRoute
from billing.api.errors import documented_errors
from billing.api.hot_path import register_hot_route
from billing.api.json_body import (
    StrictJsonRoute,
    fast_body,
    parse_again,
    parsed_body,
    register_fast_decoder,
    validated_body,
)
from billing.api.openapi import inline_schema, json_request_body
from billing.api.schemas import CostOut
from billing.runtime import ConfigSnapshot
from billing.usage import service
from billing.usage.fast_body import FastEvent, decode_usage
from billing.usage.prefer import prefers_minimal
from billing.usage.schemas import (
    MAX_EVENTS,
    PREFER_DESCRIPTION,
    QUOTE_EXAMPLES,
    USAGE_ANSWER_EXAMPLES,
    USAGE_EXAMPLES,
    QuoteRequest,
    UsageBatchIn,
    UsageEventIn,
    UsageMinimalResponse,
    UsageRequest,
    UsageResponse,
    usage_answer,
    usage_minimal_answer,
)

router = APIRouter(tags=["usage"], route_class=StrictJsonRoute)

# Validates POST /v1/usage and is its published request body: one model for both.
_usage_request: TypeAdapter[UsageRequest] = TypeAdapter(UsageRequest)
# Its hot path: valid bodies decoded in one go from the raw bytes; any other body
# takes the route above, which words the refusal (billing/usage/fast_body.py).
register_fast_decoder("/v1/usage", decode_usage)


@router.post("/v1/quote", response_model=CostOut, dependencies=[IngestScope])
def quote(
    request: Annotated[QuoteRequest, Body(openapi_examples=QUOTE_EXAMPLES)], snapshot: SnapshotDep
) -> dict[str, object]:
    """Price one event without recording anything."""
    return service.quote(snapshot.prices, request).to_json()


# Bigger bodies are validated and priced off the event loop, so singles keep flowing.
_INLINE_EVENTS = 20
_MINIMAL_APPLIED = {"Preference-Applied": "return=minimal"}


async def post_usage(request: Request, context: IngestContext) -> Response:
    """Record one event or a batch (all-or-nothing); a repeated event_id with the
    same content is a duplicate, with other content 409 idempotency_conflict.

    The request validates and prices its events, then waits for the worker's
    group commit (billing/group_commit.py) to record them with whatever other
    ingest requests arrived meanwhile, in one transaction.
    """
    decoded = fast_body(request.scope)
    fast = _within_limit(context, decoded)
    if fast is not None:
        return await _record_decoded(context, request.scope, fast)
    if decoded is not None:
        await parse_again(request)  # a batch over the limit: the generic route words it
    runtime, snapshot = context.runtime, context.snapshot
    body = parsed_body(request.scope)
    metrics.note_usage_body(body)  # how many events a refusal rejects
    events_in = body.get("events") if isinstance(body, dict) else None
    size = len(events_in) if isinstance(events_in, list) else 1
    limit, now = runtime.settings.max_batch_events, runtime.clock()
    priced = await _off_loop_if_big(size, _priced, request.scope, snapshot, limit, now)
    return await _recorded(context, request.scope, priced)


def _decode_hot(
    context: Context, body: bytes, _: dict[str, str]
) -> FastEvent | list[FastEvent] | None:
    """The hot path's decoder (billing/api/hot_path.py): what the fast decoder accepts,
    a batch within the limit; anything else is left to post_usage."""
    return _within_limit(context, decode_usage(body))


def _within_limit(
    context: Context, fast: FastEvent | list[FastEvent] | None
) -> FastEvent | list[FastEvent] | None:
    """A fast-decoded body, unless it is a batch over the limit (None: the generic
    route words that refusal)."""
    if isinstance(fast, list) and len(fast) > context.runtime.settings.max_batch_events:
        return None
    return fast


async def _record_decoded(
    context: Context, scope: Scope, fast: FastEvent | list[FastEvent]
) -> Response:
    """post_usage for a body the fast decoder accepted (also the hot path's answer)."""
    runtime, snapshot = context.runtime, context.snapshot
    events: Sequence[FastEvent] = [fast] if isinstance(fast, FastEvent) else fast
    metrics.note_usage_body({"events": events})
    priced = await _off_loop_if_big(
        len(events), _prepared, snapshot, events, runtime.clock(), isinstance(fast, list)
    )
    return await _recorded(context, scope, priced)


async def _recorded(context: Context, scope: Scope, priced: list[service.PricedEvent]) -> Response:
    """The priced events recorded by the group commit, and the answer."""
    snapshot = context.snapshot
    done = context.runtime.group_commit.submit(
        service.record_requests, snapshot, priced, len(priced)
    )
    outcomes = await asyncio.wrap_future(done)
    if prefers_minimal(scope["headers"]):
        answer = usage_minimal_answer(priced, outcomes)
        return Response(orjson.dumps(answer), headers=_MINIMAL_APPLIED, media_type=_JSON)
    return Response(orjson.dumps(usage_answer(outcomes)), media_type=_JSON)


_JSON = "application/json"


P = ParamSpec("P")


async def _off_loop_if_big(
    size: int, work: Callable[P, list[service.PricedEvent]], *args: P.args, **kwargs: P.kwargs
) -> list[service.PricedEvent]:
    if size > _INLINE_EVENTS:
        return await run_in_threadpool(work, *args, **kwargs)
    return work(*args, **kwargs)


router.add_api_route(
    "/v1/usage",
    post_usage,
    methods=["POST"],
    # Solved without FastAPI's general dependency machinery (billing/api/direct_route.py).
    route_class_override=DirectRoute,
    openapi_extra={
        **json_request_body(
            inline_schema(_usage_request), 'one usage event, or {"events": [...]}', USAGE_EXAMPLES
        ),
        # Read from the scope by prefers_minimal, not solved by FastAPI per request.
        "parameters": [
            {
                "name": "Prefer",
                "in": "header",
                "required": False,
                "description": PREFER_DESCRIPTION,
                "schema": {"type": "string", "examples": ["return=minimal"]},
            }
        ],
    },
    responses={
        # Documents the answer; usage_answer / usage_minimal_answer build it (FastAPI
        # applies no response_model to a Response), tests/usage/test_contract.py holds
        # them together.
        200: {
            "model": UsageResponse | UsageMinimalResponse,
            "description": "Successful Response: UsageResponse, or UsageMinimalResponse "
            "when the request said `Prefer: return=minimal`",
            "content": {"application/json": {"examples": USAGE_ANSWER_EXAMPLES}},
            "headers": {
                "Preference-Applied": {
                    "description": "`return=minimal` when the answer is UsageMinimalResponse",
                    "schema": {"type": "string"},
                }
            },
        },
        **documented_errors(
            {
                409: "idempotency_conflict: an event_id was already used with other content;"
                " the body adds event_id and differing_fields (names only), nothing is recorded"
            }
        ),
    },
)
# Plain requests whose body the fast decoder accepts: answered in front of FastAPI.
register_hot_route(router.routes[-1], _decode_hot, _record_decoded)


def _prepared(
    snapshot: ConfigSnapshot, events: Sequence[FastEvent], now: datetime, batch: bool
) -> list[service.PricedEvent]:
    # FastEvent has UsageEventIn's attribute interface, all prepare_events reads
    # (tests/usage/test_fast_body.py checks they give the same rows).
    return service.prepare_events(snapshot, cast(Sequence[UsageEventIn], events), now, batch=batch)


def _priced(
    scope: Scope, snapshot: ConfigSnapshot, limit: int, now: datetime
) -> list[service.PricedEvent]:
    usage = validated_body(scope, _usage_request, context={MAX_EVENTS: limit}, tagged=True)
    if isinstance(usage, UsageBatchIn):
        return service.prepare_events(snapshot, usage.events, now, batch=True)
    return service.prepare_events(snapshot, [usage], now, batch=False)
