"""Queries of reprice runs and voids: the events to correct, locked, and their updates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, or_, select, update
from sqlalchemy.orm import Session

from billing import dialect
from billing.models import UsageEvent
from billing.reprice.types import Selection

_EVENT = UsageEvent


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    event_id: str
    user_id: str
    endpoint: str
    model: str
    context: str
    conversation_id: str | None
    message_id: str | None
    occurred_at: datetime
    cost_json: str
    lines_json: str | None
    price_book: str | None
    voided_at: datetime | None
    void_reason: str | None


_COLUMNS = (
    _EVENT.id,
    _EVENT.event_id,
    _EVENT.user_id,
    _EVENT.endpoint,
    _EVENT.model,
    _EVENT.context,
    _EVENT.conversation_id,
    _EVENT.message_id,
    _EVENT.occurred_at,
    _EVENT.cost_json,
    _EVENT.lines_json,
    _EVENT.price_book,
    _EVENT.voided_at,
    _EVENT.void_reason,
)


def _pending(stmt: Any, selection: Selection, book: str) -> Any:
    """Events of the selection, not voided, not yet priced with ``book``."""
    stmt = stmt.where(
        _EVENT.occurred_at >= selection.start,
        _EVENT.occurred_at < selection.end,
        _EVENT.voided_at.is_(None),
        or_(_EVENT.price_book.is_(None), _EVENT.price_book != book),
    )
    if selection.endpoint is not None:
        stmt = stmt.where(_EVENT.endpoint == selection.endpoint)
    if selection.model is not None:
        stmt = stmt.where(_EVENT.model == selection.model)
    if selection.user_id is not None:
        stmt = stmt.where(_EVENT.user_id == selection.user_id)
    return stmt


def pending_chunk(
    session: Session, selection: Selection, book: str, after_id: int, size: int, *, lock: bool
) -> list[EventRow]:
    """The next ``size`` pending events after ``after_id``, in id order; ``lock``: locked
    (FOR UPDATE on PostgreSQL; SQLite's one writer at a time needs none), so a concurrent
    run or void of the same event waits and then sees it priced."""
    stmt = _pending(select(*_COLUMNS), selection, book).where(_EVENT.id > after_id)
    stmt = stmt.order_by(_EVENT.id).limit(size)
    if lock:
        stmt = stmt.with_for_update()
    return [EventRow(*tuple(row)) for row in session.execute(stmt)]


def event_for_void(session: Session, event_id: str) -> EventRow | None:
    """The event, locked (a concurrent void or reprice of it waits)."""
    stmt = select(*_COLUMNS).where(_EVENT.event_id == event_id).with_for_update()
    row = session.execute(stmt).first()
    return None if row is None else EventRow(*tuple(row))


def set_prices(session: Session, updates: Sequence[Mapping[str, Any]]) -> None:
    """Per event (``id``): its ``price_book``, and when the prices changed its current
    ``lines_json``, ``total_micro``, ``value_key`` and ``priced_by``. One statement
    per shape of row (the database's ``update_rows``)."""
    by_shape: dict[frozenset[str], list[Mapping[str, Any]]] = {}
    for row in updates:
        by_shape.setdefault(frozenset(row), []).append(row)
    table = _EVENT.__table__
    assert isinstance(table, Table)
    writer = dialect.of(session)
    for rows in by_shape.values():
        writer.update_rows(session, table, "id", rows)


def mark_voided(session: Session, event_pk: int, now: datetime, reason: str) -> None:
    session.execute(
        update(_EVENT)
        .where(_EVENT.id == event_pk)
        .values(voided_at=now, void_reason=reason, total_micro=0)
    )
