"""POST /v1/balances/{user_id}/check: the pre-flight balance check."""

from __future__ import annotations

from functools import lru_cache

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.dependencies.utils import request_params_to_args
from pydantic import TypeAdapter, ValidationError
from starlette.types import Scope

from billing.api.deps import Context, IngestContext
from billing.api.direct_route import DirectRoute
from billing.api.hot_path import register_hot_route
from billing.api.json_body import BodyRefused, parse_strict_json, validated_body
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
    return await _answer(context, request.scope, (user_id, body))


async def _answer(context: Context, _: Scope, checked: tuple[str, SpendEstimateIn]) -> Response:
    user_id, estimate = checked
    result = await check(context.runtime, context.snapshot, user_id, estimate)
    return Response(orjson.dumps(check_answer(result)), media_type="application/json")


_route = router.routes[-1]
_path_params = _route.dependant.path_params  # type: ignore[attr-defined]


@lru_cache(maxsize=4096)
def _user_id(raw: str) -> str | None:
    """The path's user id as FastAPI validates it for check_balance (UserIdPath), or
    None. Cached: ids repeat, and FastAPI's validation costs ~15 us."""
    values, errors = request_params_to_args(_path_params, {"user_id": raw})
    return None if errors else values["user_id"]


def _decode(
    _: Context, body: bytes, path_params: dict[str, str]
) -> tuple[str, SpendEstimateIn] | None:
    """The hot path's decoder (billing/api/hot_path.py): the user id and the estimate
    as check_balance gets them (FastAPI's path validation, the strict JSON parse, the
    model); None for any refusal, which check_balance then words."""
    user_id = _user_id(path_params["user_id"])
    if user_id is None:
        return None
    try:
        return user_id, _estimate.validate_python(parse_strict_json(body))
    except (BodyRefused, ValidationError):
        return None


# Plain requests: answered in front of FastAPI.
register_hot_route(_route, _decode, _answer)
