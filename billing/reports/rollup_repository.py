"""Usage rollup queries: writes at ingest and rebuilds from the ledger.

At ingest, the batch's usage ledger rows become one insert of delta rows, one
per (15-minute slot, endpoint, model, context), in the same transaction as the
ledger rows: no upsert, so no row is shared between concurrent writers (no
lock waits, no deadlocks). ``rebuild_rollups`` recomputes any slot range from
the ledger (the source of truth) and merges the deltas as it goes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, case, delete, func, insert, literal_column, select
from sqlalchemy.orm import Session

from billing import dialect
from billing.models import LedgerEntry, UsageRollup
from billing.models.usage_rollup import SLOT_SECONDS
from billing.pricing.types import TOKEN_TYPES
from billing.reports.slots import slot_ceil, slot_floor, slot_number
from billing.reports.spend import REPORT_INDEX, is_spend, ledger_types, spend_clause

_VALUE_COLUMNS = tuple(f"{t}_tokens" for t in TOKEN_TYPES) + tuple(
    f"{t}_micro" for t in TOKEN_TYPES
)


# A delta row's identity; the other columns are summed.
SLOT_KEY = ("slot", "endpoint", "model", "context")


def record(session: Session, entries: Sequence[Mapping[str, Any]]) -> None:
    """Add the usage ledger rows of one transaction to the rollups (one insert)."""
    rows = rollup_rows(entries)
    if not rows:
        return
    table = UsageRollup.__table__
    assert isinstance(table, Table)
    dialect.of(session).insert_rows(session, table, rows)  # COPY or one insert on PostgreSQL


def rollup_rows(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The delta rows of these ledger rows, one per SLOT_KEY, in that order.

    On the ingest path: plain dict and integer work, slots computed once per
    event time.
    """
    sums: dict[tuple[int, str, str, str], list[int]] = {}
    slots: dict[int, int] = {}  # id(created_at): an event's lines share one datetime
    width = len(TOKEN_TYPES)
    for entry in entries:
        if not is_spend(entry["kind"], entry["token_type"]):
            continue
        when = entry["created_at"]
        slot = slots.get(id(when))
        if slot is None:
            slot = slots[id(when)] = slot_number(when)
        key = (slot, entry["endpoint"] or "", entry["model"] or "", entry["context"] or "")
        values = sums.get(key)
        if values is None:
            values = sums[key] = [0] * (2 * width)
        index = REPORT_INDEX[entry["token_type"]]
        values[index] += entry["tokens"] or 0
        values[width + index] -= entry["amount_micro"]
    return [
        {
            "slot": slot,
            "endpoint": endpoint,
            "model": model,
            "context": context,
            **dict(zip(_VALUE_COLUMNS, values, strict=True)),
        }
        for (slot, endpoint, model, context), values in sorted(sums.items())
    ]


def rebuild_rollups(
    connection: Connection | Session, start: datetime | None = None, end: datetime | None = None
) -> int:
    """Recompute rollups of the slots in [start, end) (all when None) from the ledger.

    Run it in one transaction (``reports.service.rebuild_rollups`` opens one); on
    PostgreSQL under REPEATABLE READ (or with ingest paused), so the deleted
    deltas and the re-read ledger rows come from the same snapshot. Returns the
    number of rollup rows written.
    """
    lower = slot_floor(start) if start is not None else None
    upper = slot_ceil(end) if end is not None else None
    first = slot_number(lower) if lower is not None else None
    stop = slot_number(upper) if upper is not None else None
    writer = (
        dialect.of(connection)
        if isinstance(connection, Session)
        else dialect.for_engine(connection)
    )
    doomed = delete(UsageRollup)
    if first is not None:
        doomed = doomed.where(UsageRollup.slot >= first)
    if stop is not None:
        doomed = doomed.where(UsageRollup.slot < stop)
    connection.execute(doomed)

    slot = (writer.epoch_seconds(LedgerEntry.created_at) // SLOT_SECONDS).label("slot")
    sums = []
    for token_type in TOKEN_TYPES:
        mine = LedgerEntry.token_type.in_(ledger_types(token_type))
        sums.append(func.sum(case((mine, LedgerEntry.tokens), else_=0)))
    for token_type in TOKEN_TYPES:
        mine = LedgerEntry.token_type.in_(ledger_types(token_type))
        sums.append(func.sum(case((mine, -LedgerEntry.amount_micro), else_=0)))
    source = select(
        slot,
        func.coalesce(LedgerEntry.endpoint, ""),
        func.coalesce(LedgerEntry.model, ""),
        func.coalesce(LedgerEntry.context, ""),
        *sums,
    ).where(spend_clause(LedgerEntry))
    if lower is not None:
        source = source.where(LedgerEntry.created_at >= lower)
    if upper is not None:
        source = source.where(LedgerEntry.created_at < upper)
    source = source.group_by(*(literal_column(str(i)) for i in range(1, 5)))
    target = ("slot", "endpoint", "model", "context", *_VALUE_COLUMNS)
    connection.execute(insert(UsageRollup).from_select(target, source))
    # rowcount of INSERT ... SELECT is not reported by every driver: count instead.
    written = select(func.count()).select_from(UsageRollup)
    if first is not None:
        written = written.where(UsageRollup.slot >= first)
    if stop is not None:
        written = written.where(UsageRollup.slot < stop)
    return int(connection.execute(written).scalar_one())
