"""POST and GET /v1/reservations, GET /v1/reservations/{id}, POST /v1/reservations/{id}/release."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from billing.api.deps import IngestOrReadScope, IngestScope, RuntimeDep, SessionDep, SnapshotDep
from billing.api.errors import documented_errors
from billing.api.json_body import StrictJsonRoute
from billing.api.schemas import ID_PATTERN
from billing.reservations import service
from billing.reservations.schemas import (
    RESERVATION_EXAMPLES,
    ReservationCreated,
    ReservationIn,
    ReservationOut,
    ReservationPage,
    ReservationStatus,
)

router = APIRouter(tags=["reservations"], route_class=StrictJsonRoute)
ReservationIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="the reservation_id that POST /v1/reservations returned",
    ),
]


@router.post(
    "/v1/reservations",
    status_code=201,
    response_model=ReservationCreated,
    dependencies=[IngestScope],
    responses=documented_errors(
        {
            402: "insufficient_balance: the estimate exceeds the available credits;"
            " the body adds balance, reserved_credits, available_credits, requested_credits."
            " budget_exceeded: the period's spend plus active holds plus the estimate would"
            " exceed the user's budget; the body adds budget, reserved_credits,"
            " requested_credits, resets_at",
            409: "idempotency_conflict: the idempotency_key was used with another request;"
            " the body adds idempotency_key and differing_fields (names only)",
        }
    ),
)
def create_reservation(
    body: Annotated[ReservationIn, Body(openapi_examples=RESERVATION_EXAMPLES)],
    runtime: RuntimeDep,
    snapshot: SnapshotDep,
    session: SessionDep,
) -> ReservationCreated:
    """Hold the estimated cost of a call until it is settled, released or expires.

    With an idempotency_key, a retry gets the hold created first (``replayed``)
    instead of a second one.
    """
    ttl = body.ttl_seconds or runtime.settings.reservation_ttl_seconds
    created = service.create(
        session, snapshot, body.user_id, body, ttl, runtime.clock(), body.idempotency_key
    )
    return ReservationCreated.of_created(created)


@router.get("/v1/reservations", response_model=ReservationPage, dependencies=[IngestOrReadScope])
def list_reservations(
    runtime: RuntimeDep,
    session: SessionDep,
    user_id: Annotated[
        str | None,
        Query(
            min_length=1, max_length=200, pattern=ID_PATTERN, description="only this user's holds"
        ),
    ] = None,
    status: Annotated[
        ReservationStatus | None,
        Query(description="only holds in this state (active = still counting against credit)"),
    ] = None,
    cursor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=ID_PATTERN,
            description="next_cursor of the previous page",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="holds per page")] = 100,
) -> ReservationPage:
    """Holds in reservation_id order, e.g. ``?user_id=u1&status=active`` to find and
    release those a timed-out client left behind; next_cursor pages on."""
    views = service.list_views(
        session, user_id=user_id, status=status, now=runtime.clock(), after=cursor, limit=limit
    )
    return ReservationPage(
        reservations=[ReservationOut.of(view) for view in views],
        next_cursor=views[-1].row.id if len(views) == limit else None,
    )


@router.get(
    "/v1/reservations/{reservation_id}",
    response_model=ReservationOut,
    dependencies=[IngestScope],
    responses=documented_errors({404: "reservation_not_found"}),
)
def get_reservation(
    reservation_id: ReservationIdPath, runtime: RuntimeDep, session: SessionDep
) -> ReservationOut:
    return ReservationOut.of(service.get(session, reservation_id, runtime.clock()))


@router.post(
    "/v1/reservations/{reservation_id}/release",
    response_model=ReservationOut,
    dependencies=[IngestScope],
    responses=documented_errors(
        {
            404: "reservation_not_found",
            409: "conflict (already settled by a usage event) or reservation_expired"
            " (past expires_at, holds nothing);"
            " the body adds reservation_id and reservation_status",
        }
    ),
)
def release_reservation(
    reservation_id: ReservationIdPath, runtime: RuntimeDep, session: SessionDep
) -> ReservationOut:
    """Free an unused hold; releasing an already released hold answers 200 again."""
    return ReservationOut.of(service.release(session, reservation_id, runtime.clock()))
