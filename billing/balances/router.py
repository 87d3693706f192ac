"""Balance, grant and transaction routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from billing import money
from billing.api.deps import AdminScope, ReadScope, RuntimeDep, SessionDep, SnapshotDep
from billing.api.errors import documented_errors
from billing.api.json_body import StrictJsonRoute
from billing.api.schemas import CURSOR_PATTERN, ID_PATTERN
from billing.balances import repository as repo
from billing.balances import service
from billing.balances.repository import BalanceRow
from billing.balances.schemas import (
    GRANT_EXAMPLES,
    SET_BALANCE_EXAMPLES,
    AutoRefillOut,
    BalanceOut,
    BalancePage,
    GrantIn,
    SetBalanceIn,
    TransactionOut,
    TransactionPage,
)
from billing.errors import InvalidRequest
from billing.models import LedgerEntry

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


def balance_out(row: BalanceRow, reserved_micro: int = 0) -> BalanceOut:
    return BalanceOut(
        user_id=row.user_id,
        credits=money.credits_str(row.amount_micro),
        usd=money.usd_str(row.amount_micro),
        reserved_credits=money.credits_str(reserved_micro),
        available_credits=money.credits_str(row.amount_micro - reserved_micro),
        auto_refill=AutoRefillOut(
            enabled=row.auto_refill_enabled,
            interval_value=row.refill_interval_value,
            interval_unit=row.refill_interval_unit,
            amount=money.credits_str(row.refill_amount_micro),
            last_refill_at=row.last_refill_at,
            next_refill_at=service.next_refill_at(row),
        ),
    )


@router.get(
    "/v1/balances/{user_id}",
    response_model=BalanceOut,
    dependencies=[ReadScope],
    responses=documented_errors({404: "no balance for this user (user_not_found)"}),
)
def get_balance(user_id: UserIdPath, runtime: RuntimeDep, session: SessionDep) -> BalanceOut:
    row = service.get_balance(session, user_id)
    return _with_holds(session, [row], runtime.clock())[0]


def _with_holds(session: SessionDep, rows: list[BalanceRow], now: datetime) -> list[BalanceOut]:
    """Balances with reserved/available credits from active, unexpired holds."""
    held = service.held_micro(session, (row.user_id for row in rows), now)
    return [balance_out(row, held.get(row.user_id, 0)) for row in rows]


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
    rows = repo.list_balances(session, after=cursor, limit=limit)
    return BalancePage(
        balances=_with_holds(session, rows, runtime.clock()),
        next_cursor=rows[-1].user_id if len(rows) == limit else None,
    )


@router.post(
    "/v1/balances/{user_id}/credits",
    response_model=BalanceOut,
    dependencies=[AdminScope],
    responses=documented_errors({409: "idempotency_key reused for another grant (conflict)"}),
)
def grant_credits(
    user_id: UserIdPath,
    body: Annotated[GrantIn, Body(openapi_examples=GRANT_EXAMPLES)],
    runtime: RuntimeDep,
    snapshot: SnapshotDep,
    session: SessionDep,
) -> BalanceOut:
    """Grant (positive) or deduct (negative) credits, idempotent by idempotency_key."""
    row, _ = service.grant(
        session,
        snapshot.config,
        user_id,
        body.amount,
        reason=body.reason,
        idempotency_key=body.idempotency_key,
        now=runtime.clock(),
    )
    return _with_holds(session, [row], runtime.clock())[0]


@router.put("/v1/balances/{user_id}", response_model=BalanceOut, dependencies=[AdminScope])
def set_balance(
    user_id: UserIdPath,
    body: Annotated[SetBalanceIn, Body(openapi_examples=SET_BALANCE_EXAMPLES)],
    runtime: RuntimeDep,
    snapshot: SnapshotDep,
    session: SessionDep,
) -> BalanceOut:
    """Set the balance; the difference is recorded as one ledger row."""
    row = service.set_balance(
        session,
        snapshot.config,
        user_id,
        body.credits,
        reason=body.reason,
        now=runtime.clock(),
    )
    return _with_holds(session, [row], runtime.clock())[0]


def transaction_out(entry: LedgerEntry) -> TransactionOut:
    return TransactionOut(
        id=entry.id,
        user_id=entry.user_id,
        kind=entry.kind,
        token_type=entry.token_type,
        tokens=entry.tokens,
        rate=entry.rate,
        credits=money.credits_str(entry.amount_micro),
        usd=money.usd_str(entry.amount_micro),
        value_key=entry.value_key,
        priced_by=entry.priced_by,
        context=entry.context,
        endpoint=entry.endpoint,
        model=entry.model,
        conversation_id=entry.conversation_id,
        message_id=entry.message_id,
        event_id=entry.event_id,
        reason=entry.reason,
        created_at=entry.created_at,
    )


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
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidRequest(f"{name}: needs a time zone (e.g. Z)")
    entries = repo.list_ledger(
        session,
        user_id=user_id,
        conversation_id=conversation_id,
        since=since,
        until=until,
        after_id=int(cursor) if cursor else None,
        limit=limit,
    )
    return TransactionPage(
        transactions=[transaction_out(e) for e in entries],
        next_cursor=str(entries[-1].id) if len(entries) == limit else None,
    )
