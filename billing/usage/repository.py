"""Queries over usage events (the only place that builds them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from billing import dialect
from billing.dialect import Dependent, StaticQuery
from billing.models import LedgerEntry, UsageEvent, UsageRollup
from billing.reports.rollup_repository import SLOT_KEY


def insert_new_events(
    session: Session,
    rows: Sequence[Mapping[str, Any]],
    ledger_rows: Sequence[Mapping[str, Any]] = (),
    rollup_rows: Sequence[Mapping[str, Any]] = (),
) -> set[str]:
    """Bulk insert; rows whose event_id already exists are skipped.

    Returns the event ids inserted by this statement. A concurrent insert of
    the same id waits on the unique index and then counts as a duplicate, so
    exactly one transaction ever charges an event. With them, the events'
    ``ledger_rows`` and ``rollup_rows`` (rollup deltas, each with the
    ``event_id`` it comes from) go in for the events inserted, summed per
    rollup key (one statement for a few events on PostgreSQL).
    """
    # One statement for the batch, inserting in event_id order (billing/usage/ingest.py).
    return dialect.of(session).insert_new_with(
        session,
        _table(UsageEvent),
        "event_id",
        rows,
        [
            Dependent(_table(LedgerEntry), ledger_rows, "event_id"),
            Dependent(_table(UsageRollup), rollup_rows, "event_id", sum_by=SLOT_KEY),
        ],
    )


def insert_unseen_events(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """``insert_new_events`` (no dependents) of events this transaction has just read as
    not recorded (the dialect's ``insert_unseen``: on SQLite a plain insert)."""
    inserted: set[str] = dialect.of(session).insert_unseen(
        session, _table(UsageEvent), "event_id", rows
    )
    return inserted


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_STORED = StaticQuery(
    lambda ids: select(
        UsageEvent.event_id, UsageEvent.user_id, UsageEvent.cost_json, UsageEvent.fingerprint
    ).where(ids(UsageEvent.event_id, "ids"))
)


def stored_events(
    session: Session, event_ids: Iterable[str]
) -> dict[str, tuple[str, str, bytes | None]]:
    """event_id -> (user_id, cost_json, fingerprint) of already recorded events."""
    ids = sorted(set(event_ids))
    if not ids:
        return {}
    rows = dialect.of(session).fetch(session, _STORED, {"ids": ids})
    return {event_id: (user_id, cost, fp) for event_id, user_id, cost, fp in rows}


def stored_content(
    session: Session, event_ids: Iterable[str], columns: Sequence[str]
) -> dict[str, tuple[Any, ...]]:
    """event_id -> the values of ``columns`` of recorded events (to name what differs)."""
    table = UsageEvent.__table__
    assert isinstance(table, Table)
    stmt = select(table.c.event_id, *(table.c[name] for name in columns)).where(
        table.c.event_id.in_(sorted(set(event_ids)))
    )
    return {row[0]: tuple(row[1:]) for row in session.execute(stmt)}
