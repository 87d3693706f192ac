"""POST /v1/balances/{user_id}/check: the pre-flight balance check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from billing import metrics, money
from billing.api.deps import IngestScope, RuntimeDep, SessionDep, SnapshotDep
from billing.api.schemas import ID_PATTERN, CostOut
from billing.balances.check import check_spend
from billing.balances.check_schemas import CheckOut, SpendEstimateIn

router = APIRouter(tags=["balances"])


@router.post(
    "/v1/balances/{user_id}/check",
    response_model=CheckOut,
    response_model_exclude_unset=True,
    dependencies=[IngestScope],
)
def check_balance(
    user_id: Annotated[str, Path(min_length=1, max_length=200, pattern=ID_PATTERN)],
    body: SpendEstimateIn,
    runtime: RuntimeDep,
    snapshot: SnapshotDep,
    session: SessionDep,
) -> CheckOut:
    """May this user spend the estimated cost? A denial adds error=token_balance."""
    result = check_spend(session, snapshot, user_id, body, runtime.clock())
    metrics.record_balance_check(allowed=result.allowed, session=session)  # after commit
    denial = {}
    if not result.allowed:
        denial = {
            "error": "token_balance",
            "prompt_tokens": result.input_tokens,
            "token_cost": money.credits_str(result.cost.total_micro),
        }
    return CheckOut(
        user_id=user_id,
        allowed=result.allowed,
        balance=money.credits_str(result.balance_micro),
        reserved_credits=money.credits_str(result.reserved_micro),
        available_credits=money.credits_str(result.available_micro),
        cost=CostOut.model_validate(result.cost.to_json()),
        **denial,
    )
