"""Queries over reservations (the only place that builds them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from billing import dialect
from billing.dialect import InList, StaticQuery
from billing.models import Reservation, UsageEvent
from billing.models.reservation import ACTIVE, EXPIRED, HOLD


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
    idempotency_key: str | None = None
    kind: str = HOLD  # hold | lease (billing/models/reservation.py)

    def values(self) -> dict[str, Any]:
        """Column name -> value, for an insert: ``dataclasses.asdict`` without its deep
        copy of every value (~45 us a hold; the values are immutable)."""
        return {name: getattr(self, name) for name in _ROW_FIELDS}


_ROW_FIELDS = tuple(field.name for field in fields(ReservationRow))

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
    Reservation.idempotency_key,
    Reservation.kind,
)


def add(session: Session, row: Mapping[str, Any]) -> None:
    table = Reservation.__table__
    assert isinstance(table, Table)
    dialect.of(session).insert_rows(session, table, [row])


def add_once(session: Session, row: Mapping[str, Any]) -> bool:
    """Insert a hold with an idempotency key; False when the key is taken (a
    concurrent request with that key committed first: PostgreSQL waits for it)."""
    table = Reservation.__table__
    assert isinstance(table, Table)
    return dialect.of(session).insert_once(session, table, "idempotency_key", row)


@dataclass(slots=True)
class Keyed:
    """A hold created with an idempotency key, with what it was created from."""

    row: ReservationRow
    request_json: str
    cost_json: str


def by_key(session: Session, idempotency_key: str) -> Keyed | None:
    stmt = select(*_COLUMNS, Reservation.request_json, Reservation.cost_json).where(
        Reservation.idempotency_key == idempotency_key
    )
    found = session.execute(stmt).first()
    if found is None:
        return None
    *columns, request_json, cost_json = found
    return Keyed(ReservationRow(*columns), request_json, cost_json)


def list_rows(
    session: Session,
    *,
    user_id: str | None,
    status: str | None,
    now: datetime,
    after: str | None,
    limit: int,
) -> list[ReservationRow]:
    """Holds in id order, keyset-paged; ``status`` as clients see it (expired =
    stored active past expires_at, active = stored active and not expired)."""
    stmt = select(*_COLUMNS).order_by(Reservation.id).limit(limit)
    if user_id is not None:
        stmt = stmt.where(Reservation.user_id == user_id)
    if status == ACTIVE:
        stmt = stmt.where(Reservation.status == ACTIVE, Reservation.expires_at > now)
    elif status == EXPIRED:
        stmt = stmt.where(Reservation.status == ACTIVE, Reservation.expires_at <= now)
    elif status is not None:
        stmt = stmt.where(Reservation.status == status)
    if after is not None:
        stmt = stmt.where(Reservation.id > after)
    return [ReservationRow(*row) for row in session.execute(stmt)]


def get(session: Session, reservation_id: str) -> ReservationRow | None:
    found = session.execute(select(*_COLUMNS).where(Reservation.id == reservation_id)).first()
    return ReservationRow(**found._mapping) if found else None


def _lock_statement(ids: InList) -> Any:
    return (
        select(*_COLUMNS)
        .where(ids(Reservation.id, "ids"))
        .order_by(Reservation.id)
        .with_for_update()
    )


_LOCK = StaticQuery(_lock_statement)


def lock(session: Session, reservation_ids: Iterable[str]) -> dict[str, ReservationRow]:
    """Read and row-lock reservations in id order (fixed order: no deadlocks)."""
    ids = sorted(set(reservation_ids))
    if not ids:
        return {}
    found = dialect.of(session).fetch(session, _LOCK, {"ids": ids})
    return {row[0]: ReservationRow(*row) for row in found}


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


def close_locked(session: Session, closed: Sequence[Mapping[str, Any]]) -> None:
    """Set status, closed_at and settled_event_id (each mapping has them and the id)
    of active holds this transaction has locked (``lock``): one statement."""
    table = Reservation.__table__
    assert isinstance(table, Table)
    dialect.of(session).update_rows(session, table, "id", closed)


def top_up(
    session: Session,
    lease_id: str,
    user_id: str,
    add_micro: int,
    expires_at: datetime,
    now: datetime,
) -> bool:
    """Add credit to a lease that still holds (active, unexpired) and extend it;
    False when it no longer does (released, or expired: its amount was no longer
    counted, so it must not come back)."""
    done = session.execute(
        update(Reservation)
        .where(
            Reservation.id == lease_id,
            Reservation.user_id == user_id,
            Reservation.status == ACTIVE,
            Reservation.expires_at > now,
        )
        .values(amount_micro=Reservation.amount_micro + add_micro, expires_at=expires_at),
        execution_options={"synchronize_session": False},
    )
    return bool(getattr(done, "rowcount", 0))


def set_amounts(session: Session, amounts: Sequence[Mapping[str, Any]]) -> None:
    """Set amount_micro of leases this transaction has locked (``lock``): one statement."""
    table = Reservation.__table__
    assert isinstance(table, Table)
    dialect.of(session).update_rows(session, table, "id", amounts)


def event_total_micro(session: Session, event_id: str) -> int | None:
    """The real cost of the event that settled a hold."""
    total = session.scalar(select(UsageEvent.total_micro).where(UsageEvent.event_id == event_id))
    return int(total) if total is not None else None


def event_totals_micro(session: Session, event_ids: Iterable[str]) -> dict[str, int]:
    """event_id -> real cost, for the events that settled a page of holds (one query)."""
    ids = sorted(set(event_ids))
    if not ids:
        return {}
    stmt = select(UsageEvent.event_id, UsageEvent.total_micro).where(UsageEvent.event_id.in_(ids))
    return {event_id: int(total) for event_id, total in session.execute(stmt)}
