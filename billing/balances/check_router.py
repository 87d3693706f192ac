"""POST /v1/balances/{user_id}/check: the pre-flight balance check."""

from __future__ import annotations

import asyncio

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import TypeAdapter

from billing import metrics, money
from billing.api.deps import IngestContext, in_transaction
from billing.api.json_body import validated_body
from billing.api.openapi import inline_schema, json_request_body
from billing.balances.check import check_spend, checks_without_writing, estimate_cost
from billing.balances.check_schemas import CHECK_EXAMPLES, CheckOut, SpendEstimateIn
from billing.balances.router import UserIdPath
from billing.budgets.view import budget_json, utc_text

router = APIRouter(tags=["balances"])
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
    runtime, snapshot = context.runtime, context.snapshot
    body = validated_body(request.scope, _estimate)
    now = runtime.clock()
    cost = estimate_cost(snapshot.prices, body)  # an unknown endpoint is refused before any I/O
    # One unlocked read answers the common case; first sight or a due refill write first.
    # Concurrent checks of this worker share that read (group_read, like group commit).
    request_item = (user_id, cost, body.role)
    read = runtime.group_read.submit(checks_without_writing, snapshot, request_item, 1)
    result = await asyncio.wrap_future(read)
    if result is None:
        result = await in_transaction(runtime, check_spend, snapshot, user_id, cost, now, body.role)
    metrics.record_balance_check(allowed=result.allowed)  # answered from committed state
    out = {
        "user_id": user_id,
        "allowed": result.allowed,
        "balance": money.credits_str(result.balance_micro),
        "reserved_credits": money.credits_str(result.reserved_micro),
        "available_credits": money.credits_str(result.available_micro),
        "cost": result.cost.to_json(),
    }
    if result.budget is not None:
        out["budget"] = budget_json(result.budget)
    if not result.allowed:
        # The balance's denial first: waiting for the budget to reset would not help.
        out["error"] = "token_balance" if not result.balance_allowed else "budget_exceeded"
        out["prompt_tokens"] = result.input_tokens
        out["token_cost"] = money.credits_str(result.cost.total_micro)
        if result.budget is not None and not result.budget_allowed:
            out["resets_at"] = utc_text(result.budget.resets_at)
    return Response(orjson.dumps(out), media_type="application/json")
