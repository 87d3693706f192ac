"""GET /v1/costs and GET /v1/conversations/{conversation_id}/cost."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from billing.api.deps import ReadScope, SessionDep, SnapshotDep
from billing.api.errors import documented_errors
from billing.api.schemas import ID_PATTERN
from billing.reports import service
from billing.reports.schemas import ConversationCostOut, CostsOut

router = APIRouter(tags=["reports"])

CurrencyParam = Annotated[
    str | None,
    Query(
        max_length=3,
        description="display currency of `amount`: USD or the configured interface.currency "
        "code (default: the configured one)",
    ),
]


@router.get(
    "/v1/costs",
    response_model=CostsOut,
    response_model_by_alias=True,
    dependencies=[ReadScope],
)
def get_costs(
    session: SessionDep,
    snapshot: SnapshotDep,
    start: Annotated[
        datetime | None, Query(alias="from", description="inclusive, with a time zone")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="exclusive")] = None,
    group_by: Annotated[
        list[str],
        Query(
            description="comma-separated and/or repeated: " + ", ".join(service.GROUP_DIMENSIONS)
        ),
    ] = [],  # noqa: B006 - FastAPI copies defaults
    tz: Annotated[
        str, Query(max_length=64, description="IANA time zone of day/hour buckets")
    ] = "UTC",
    currency: CurrencyParam = None,
    user_id: Annotated[str | None, Query(max_length=200, description="only this user")] = None,
    endpoint: Annotated[str | None, Query(max_length=200, description="only this endpoint")] = None,
    model: Annotated[str | None, Query(max_length=200, description="only this model")] = None,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=service.MAX_ROWS,
            description="rows returned at most; `truncated` says when more groups matched",
        ),
    ] = 1000,
) -> CostsOut:
    """Spend (usage ledger rows only; grants and refills are not spend) grouped as asked."""
    query = service.CostsQuery(
        start=start,
        end=end,
        group_by=group_by,
        tz=tz,
        currency=currency,
        user_id=user_id,
        endpoint=endpoint,
        model=model,
        limit=limit,
    )
    return service.costs(session, snapshot.config.currency, query)


@router.get(
    "/v1/conversations/{conversation_id}/cost",
    response_model=ConversationCostOut,
    dependencies=[ReadScope],
    responses=documented_errors({404: "no usage recorded for the conversation (not_found)"}),
)
def get_conversation_cost(
    conversation_id: Annotated[
        str,
        Path(
            min_length=1,
            max_length=200,
            pattern=ID_PATTERN,
            description="the conversation_id the usage events carried",
        ),
    ],
    session: SessionDep,
    snapshot: SnapshotDep,
    user_id: Annotated[
        str | None, Query(max_length=200, description="only this user's events")
    ] = None,
    currency: CurrencyParam = None,
) -> ConversationCostOut:
    """What each message of a conversation cost, and the whole conversation; 404 when none."""
    return service.conversation_cost(
        session,
        snapshot.config.currency,
        conversation_id,
        user_id=user_id,
        currency_code=currency,
    )
