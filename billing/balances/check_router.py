"""POST /v1/balances/{user_id}/check: the pre-flight balance check."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import TypeAdapter

from billing.api.deps import IngestContext
from billing.api.direct_route import DirectRoute
from billing.api.json_body import validated_body
from billing.api.openapi import inline_schema, json_request_body
from billing.balances.check import check
from billing.balances.check_schemas import CHECK_EXAMPLES, CheckOut, SpendEstimateIn, check_answer
from billing.balances.router import UserIdPath

# Parameters solved directly (billing/api/direct_route.py): the hot pre-flight check.
router = APIRouter(tags=["balances"], route_class=DirectRoute)
_estimate = TypeAdapter(SpendEstimateIn)


@router.post(
    "/v1/balances/{user_id}/check",
    response_model=CheckOut,
    response_model_exclude_unset=True,
    openapi_extra=json_request_body(
        inline_schema(_estimate), "the call's estimated usage", CHECK_EXAMPLES
    ),
)
async def check_balance(
    user_id: UserIdPath,
    request: Request,
    context: IngestContext,
) -> Response:
    """May this user spend the estimated cost? A denial adds error=token_balance, or
    error=budget_exceeded with resets_at when the user's budget would be exceeded."""
    body = validated_body(request.scope, _estimate)
    result = await check(context.runtime, context.snapshot, user_id, body)
    return Response(orjson.dumps(check_answer(result)), media_type="application/json")
