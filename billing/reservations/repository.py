"""Queries over reservations (the only place that builds them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from billing.models import Reservation, UsageEvent
from billing.models.reservation import ACTIVE


@dataclass(slots=True)
class ReservationRow:
    id: str
    user_id: str
    endpoint: str
    model: str
    amount_micro: int
    status: str  # stored status: active | settled | released
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    settled_event_id: str | None


_COLUMNS = (
    Reservation.id,
    Reservation.user_id,
    Reservation.endpoint,
    Reservation.model,
    Reservation.amount_micro,
    Reservation.status,
    Reservation.created_at,
    Reservation.expires_at,
    Reservation.closed_at,
    Reservation.settled_event_id,
)


def add(session: Session, row: Mapping[str, Any]) -> None:
    session.execute(insert(Reservation), [dict(row)])


def get(session: Session, reservation_id: str) -> ReservationRow | None:
    found = session.execute(select(*_COLUMNS).where(Reservation.id == reservation_id)).first()
    return ReservationRow(**found._mapping) if found else None


def lock(session: Session, reservation_ids: Iterable[str]) -> dict[str, ReservationRow]:
    """Read and row-lock reservations in id order (fixed order: no deadlocks)."""
    ids = sorted(set(reservation_ids))
    if not ids:
        return {}
    stmt = select(*_COLUMNS).where(Reservation.id.in_(ids)).order_by(Reservation.id)
    return {
        row.id: ReservationRow(**row._mapping) for row in session.execute(stmt.with_for_update())
    }


def close(
    session: Session,
    reservation_id: str,
    status: str,
    now: datetime,
    settled_event_id: str | None = None,
) -> None:
    """Move an active hold to settled or released (only ever from active)."""
    session.execute(
        update(Reservation)
        .where(Reservation.id == reservation_id, Reservation.status == ACTIVE)
        .values(status=status, closed_at=now, settled_event_id=settled_event_id),
        execution_options={"synchronize_session": False},
    )


def event_total_micro(session: Session, event_id: str) -> int | None:
    """The real cost of the event that settled a hold."""
    total = session.scalar(select(UsageEvent.total_micro).where(UsageEvent.event_id == event_id))
    return int(total) if total is not None else None
