"""Balance, grant and transaction routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from billing.api.deps import AdminActor, ReadScope, RuntimeDep, SessionDep, SnapshotDep
from billing.api.errors import documented_errors
from billing.api.json_body import StrictJsonRoute
from billing.api.schemas import CURSOR_PATTERN, ID_PATTERN
from billing.balances import service
from billing.balances.schemas import (
    GRANT_EXAMPLES,
    SET_BALANCE_EXAMPLES,
    BalanceOut,
    BalancePage,
    GrantIn,
    SetBalanceIn,
    TransactionOut,
    TransactionPage,
)
from billing.balances.types import TransactionFilter

router = APIRouter(tags=["balances"], route_class=StrictJsonRoute)
UserIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        pattern=ID_PATTERN,
        description="the user's id, as the chat platform names it",
        examples=["alice"],
    ),
]
LimitParam = Annotated[int, Query(ge=1, le=1000, description="rows per page")]


@router.get(
    "/v1/balances/{user_id}",
    response_model=BalanceOut,
    dependencies=[ReadScope],
    responses=documented_errors({404: "no balance for this user (user_not_found)"}),
)
def get_balance(user_id: UserIdPath, runtime: RuntimeDep, session: SessionDep) -> BalanceOut:
    return BalanceOut.of(service.get_balance(session, user_id, runtime.clock()))


@router.get("/v1/balances", response_model=BalancePage, dependencies=[ReadScope])
def list_balances(
    session: SessionDep,
    runtime: RuntimeDep,
    cursor: Annotated[
        str | None,
        Query(max_length=200, description="next_cursor of the previous page (user ids after it)"),
    ] = None,
    limit: LimitParam = 100,
) -> BalancePage:
    views = service.list_balances(session, after=cursor, limit=limit, now=runtime.clock())
    return BalancePage(
        balances=[BalanceOut.of(view) for view in views],
        next_cursor=views[-1].user_id if len(views) == limit else None,
    )


@router.post(
    "/v1/balances/{user_id}/credits",
    response_model=BalanceOut,
    responses=documented_errors({409: "idempotency_key reused for another grant (conflict)"}),
)
def grant_credits(
    user_id: UserIdPath,
    body: Annotated[GrantIn, Body(openapi_examples=GRANT_EXAMPLES)],
    runtime: RuntimeDep,
    snapshot: SnapshotDep,
    session: SessionDep,
    actor: AdminActor,
) -> BalanceOut:
    """Grant (positive) or deduct (negative) credits, idempotent by idempotency_key."""
    granted = service.grant(
        session,
        snapshot.config,
        user_id,
        body.amount,
        reason=body.reason,
        idempotency_key=body.idempotency_key,
        now=runtime.clock(),
        actor=actor,
    )
    return BalanceOut.of(granted.balance)


@router.put("/v1/balances/{user_id}", response_model=BalanceOut)
def set_balance(
    user_id: UserIdPath,
    body: Annotated[SetBalanceIn, Body(openapi_examples=SET_BALANCE_EXAMPLES)],
    runtime: RuntimeDep,
    snapshot: SnapshotDep,
    session: SessionDep,
    actor: AdminActor,
) -> BalanceOut:
    """Set the balance; the difference is recorded as one ledger row."""
    view = service.set_balance(
        session,
        snapshot.config,
        user_id,
        body.credits,
        reason=body.reason,
        now=runtime.clock(),
        actor=actor,
    )
    return BalanceOut.of(view)


@router.get("/v1/transactions", response_model=TransactionPage, dependencies=[ReadScope])
def list_transactions(
    session: SessionDep,
    user_id: Annotated[
        str | None, Query(max_length=200, pattern=ID_PATTERN, description="only this user's rows")
    ] = None,
    conversation_id: Annotated[
        str | None,
        Query(max_length=200, pattern=ID_PATTERN, description="only this conversation's rows"),
    ] = None,
    since: Annotated[
        datetime | None, Query(description="rows created at or after this time (with a zone)")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="rows created before this time (with a zone)")
    ] = None,
    cursor: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, description="next_cursor of the previous page"),
    ] = None,
    limit: LimitParam = 100,
) -> TransactionPage:
    """Ledger rows, newest first; pass next_cursor back as cursor for the next page."""
    which = TransactionFilter(user_id, conversation_id, since, until)
    rows = service.list_transactions(
        session, which, after_id=int(cursor) if cursor else None, limit=limit
    )
    return TransactionPage(
        transactions=[TransactionOut.of(row) for row in rows],
        next_cursor=str(rows[-1].id) if len(rows) == limit else None,
    )
