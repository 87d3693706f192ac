"""POST /v1/admin/reprice and POST /v1/usage/{event_id}/void."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path

from billing.api.deps import AdminActor, RuntimeDep, SessionDep, SnapshotDep
from billing.api.errors import documented_errors
from billing.api.json_body import StrictJsonRoute
from billing.api.schemas import ID_PATTERN
from billing.errors import InvalidRequest
from billing.reprice import service
from billing.reprice.schemas import (
    REPRICE_EXAMPLES,
    VOID_EXAMPLES,
    RepriceIn,
    RepriceOut,
    VoidIn,
    VoidOut,
)

router = APIRouter(tags=["repricing"], route_class=StrictJsonRoute)


@router.post(
    "/v1/usage/{event_id}/void",
    response_model=VoidOut,
    responses=documented_errors({404: "not_found: no event with this event_id"}),
)
def void_event(
    event_id: Annotated[
        str,
        Path(
            min_length=1,
            max_length=200,
            pattern=ID_PATTERN,
            description="the event's event_id (its idempotency key)",
            examples=["msg-1001:1"],
        ),
    ],
    body: Annotated[VoidIn, Body(openapi_examples=VOID_EXAMPLES)],
    actor: AdminActor,
    runtime: RuntimeDep,
    snapshot: SnapshotDep,
    session: SessionDep,
) -> VoidOut:
    """Reverse an event's charge (one `void` ledger row per token line, the balance
    given back, reports and budgets drop it). Voiding it again answers the first
    void and writes nothing."""
    result = service.void(
        session, snapshot.config, event_id, body.reason, runtime.clock(), key_id=actor
    )
    return VoidOut.of(result)


@router.post(
    "/v1/admin/reprice",
    response_model=RepriceOut,
)
def reprice(
    body: Annotated[RepriceIn, Body(openapi_examples=REPRICE_EXAMPLES)],
    actor: AdminActor,
    runtime: RuntimeDep,
    snapshot: SnapshotDep,
) -> RepriceOut:
    """Price the matching events again with the current price book. A dry run writes
    nothing; an apply writes one `reprice` ledger row per changed token line and
    commits per chunk of events, so an interrupted run is finished by running it
    again (events already priced with this price book are not touched again)."""
    if body.to <= body.from_:
        raise InvalidRequest("to must be after from", field="to")
    selection = service.Selection(body.from_, body.to, body.endpoint, body.model, body.user_id)
    result = service.reprice(
        runtime.sessions,
        snapshot.config,
        snapshot.prices,
        selection,
        runtime.clock(),
        dry_run=body.dry_run,
        reason=body.reason,
        key_id=actor,
    )
    return RepriceOut.of(result)
