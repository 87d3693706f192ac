"""GET/PUT /v1/users/{user_id} (role) and GET/PUT/DELETE /v1/users/{user_id}/budget."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from billing.accounts import service
from billing.accounts.schemas import (
    BUDGET_EXAMPLES,
    ROLE_EXAMPLES,
    BudgetIn,
    RoleIn,
    UserBudgetOut,
    UserOut,
)
from billing.api.deps import AdminActor, ReadScope, RuntimeDep, SessionDep, SnapshotDep
from billing.api.errors import documented_errors
from billing.api.json_body import StrictJsonRoute
from billing.balances.check_schemas import BudgetOut
from billing.balances.router import UserIdPath
from billing.budgets.types import BudgetState
from billing.budgets.view import budget_json

router = APIRouter(tags=["users"], route_class=StrictJsonRoute)


def _budget_out(user_id: str, current: BudgetState) -> UserBudgetOut:
    return UserBudgetOut(user_id=user_id, **budget_json(current))


def _user_out(view: service.UserView) -> UserOut:
    budget = BudgetOut(**budget_json(view.budget)) if view.budget is not None else None
    return UserOut(user_id=view.user_id, role=view.role, budget=budget)


@router.put("/v1/users/{user_id}", response_model=UserOut)
def set_user(
    user_id: UserIdPath,
    body: Annotated[RoleIn, Body(openapi_examples=ROLE_EXAMPLES)],
    runtime: RuntimeDep,
    snapshot: SnapshotDep,
    session: SessionDep,
    actor: AdminActor,
) -> UserOut:
    """Set the user's role: its policy (billing.roles) applies from now on, and a new
    user starts with the role's startBalance."""
    view = service.set_role(
        session, snapshot.config, user_id, body.role, runtime.clock(), actor=actor
    )
    return _user_out(view)


@router.get(
    "/v1/users/{user_id}",
    response_model=UserOut,
    dependencies=[ReadScope],
    responses=documented_errors({404: "no role or budget was ever set (user_not_found)"}),
)
def get_user(
    user_id: UserIdPath, runtime: RuntimeDep, snapshot: SnapshotDep, session: SessionDep
) -> UserOut:
    return _user_out(service.get_user(session, snapshot.config, user_id, runtime.clock()))


@router.put("/v1/users/{user_id}/budget", response_model=UserBudgetOut)
def set_budget(
    user_id: UserIdPath,
    body: Annotated[BudgetIn, Body(openapi_examples=BUDGET_EXAMPLES)],
    runtime: RuntimeDep,
    snapshot: SnapshotDep,
    session: SessionDep,
    actor: AdminActor,
) -> UserBudgetOut:
    """Limit the user's spend per calendar period (overrides the role's default budget).
    Checks, reservations and gateway calls that would go above it are refused
    (budget_exceeded); usage is always recorded and counts toward the period."""
    current = service.set_budget(
        session,
        snapshot.config,
        user_id,
        body.limit_credits,
        body.period,
        body.tz,
        runtime.clock(),
        actor=actor,
    )
    return _budget_out(user_id, current)


@router.get(
    "/v1/users/{user_id}/budget",
    response_model=UserBudgetOut,
    dependencies=[ReadScope],
    responses=documented_errors({404: "no budget applies to this user (not_found)"}),
)
def get_budget(
    user_id: UserIdPath, runtime: RuntimeDep, snapshot: SnapshotDep, session: SessionDep
) -> UserBudgetOut:
    """The budget in force (own, else the role's) with the current period's spend."""
    current = service.get_budget(session, snapshot.config, user_id, runtime.clock())
    return _budget_out(user_id, current)


@router.delete(
    "/v1/users/{user_id}/budget",
    response_model=UserBudgetOut,
    responses=documented_errors({404: "the user has no budget of their own (not_found)"}),
)
def delete_budget(
    user_id: UserIdPath,
    runtime: RuntimeDep,
    snapshot: SnapshotDep,
    session: SessionDep,
    actor: AdminActor,
) -> UserBudgetOut:
    """Remove the user's own budget (answered as it was); a role's default budget,
    if any, applies from now on."""
    removed = service.delete_budget(session, snapshot.config, user_id, runtime.clock(), actor=actor)
    return _budget_out(user_id, removed)
