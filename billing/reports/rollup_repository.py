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
from billing.dialect.rows import RowGroups
from billing.models import LedgerEntry, UsageRollup
from billing.models.usage_rollup import SLOT_SECONDS
from billing.pricing.types import TOKEN_TYPES
from billing.reports.slots import slot_ceil, slot_floor, slot_number
from billing.reports.spend import REPORT_INDEX, SPEND_KINDS, is_spend, ledger_types, spend_clause

_VALUE_COLUMNS = tuple(f"{t}_tokens" for t in TOKEN_TYPES) + tuple(
    f"{t}_micro" for t in TOKEN_TYPES
)


# A delta row's identity; the other columns are summed.
SLOT_KEY = ("slot", "endpoint", "model", "context")


def record(session: Session, entries: Sequence[Mapping[str, Any]] | RowGroups) -> None:
    """Add the usage ledger rows of one transaction (mappings, or RowGroups) to the
    rollups (one insert)."""
    rows = group_rollup_rows(entries) if isinstance(entries, RowGroups) else rollup_rows(entries)
    insert_rollups(session, rows)


def insert_rollups(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert delta rows (``rollup_rows``, ``group_rollup_rows``)."""
    if not rows:
        return
    table = UsageRollup.__table__
    assert isinstance(table, Table)
    dialect.of(session).insert_rows(session, table, rows)  # COPY or one insert on PostgreSQL


def rollup_rows(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The delta rows of these ledger rows, one per SLOT_KEY, in that order."""
    sums = _Sums()
    for entry in entries:
        token_type = entry["token_type"]
        if is_spend(entry["kind"], token_type):
            key = sums.key(entry["created_at"], entry["endpoint"], entry["model"], entry["context"])
            sums.add(key, token_type, entry["tokens"], entry["amount_micro"])
    return sums.rows()


def group_rollup_rows(groups: RowGroups) -> list[dict[str, Any]]:
    """``rollup_rows`` of the rows of ``groups`` whose kind, created_at, endpoint,
    model and context are shared by each group's rows: a key per group.

    The ingest's hot loop (~3,700 ledger rows per 1,000-event batch): is_spend
    and _Sums.add inlined, one report index lookup per row, no call per row."""
    kind_at, when_at, endpoint_at, model_at, context_at = map(
        groups.shared.index, ("kind", "created_at", "endpoint", "model", "context")
    )
    tokens_at, amount_at, type_at = map(groups.own.index, ("tokens", "amount_micro", "token_type"))
    sums = _Sums()
    totals, index_of, width = sums.sums, REPORT_INDEX.get, _WIDTH
    for shared, own in groups.groups:
        if shared[kind_at] not in SPEND_KINDS:
            continue
        values = None
        for row in own:
            index = index_of(row[type_at])
            if index is None:  # not a priced line (is_spend)
                continue
            if values is None:
                key = sums.key(
                    shared[when_at], shared[endpoint_at], shared[model_at], shared[context_at]
                )
                values = totals.get(key)
                if values is None:
                    values = totals[key] = [0] * (2 * width)
            values[index] += row[tokens_at] or 0
            values[width + index] -= row[amount_at]
    return sums.rows()


def rollups_less(
    rows: Sequence[dict[str, Any]], less: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Delta rows ``rows`` minus ``less`` (the delta rows of some of their ledger rows,
    e.g. of events found recorded already), per SLOT_KEY; a key left with nothing
    (all sums 0) is dropped, as a zero delta changes no report. Cheaper than summing
    the rest again when ``less`` is a few events of a batch."""
    taken = {tuple(row[name] for name in SLOT_KEY): row for row in less}
    if not taken:
        return list(rows)
    kept = []
    for row in rows:
        minus = taken.get(tuple(row[name] for name in SLOT_KEY))
        if minus is None:
            kept.append(row)
            continue
        left = {**row, **{name: row[name] - minus[name] for name in _VALUE_COLUMNS}}
        if any(left[name] for name in _VALUE_COLUMNS):
            kept.append(left)
    return kept


class _Sums:
    """Token and spend sums per SLOT_KEY; slots computed once per event time."""

    def __init__(self) -> None:
        self.sums: dict[tuple[int, str, str, str], list[int]] = {}
        self.slots: dict[int, int] = {}  # id(created_at): an event's lines share one datetime

    def key(
        self, when: datetime, endpoint: str | None, model: str | None, context: str | None
    ) -> tuple[int, str, str, str]:
        slot = self.slots.get(id(when))
        if slot is None:
            slot = self.slots[id(when)] = slot_number(when)
        return (slot, endpoint or "", model or "", context or "")

    def add(
        self, key: tuple[int, str, str, str], token_type: str, tokens: int | None, amount: int
    ) -> None:
        values = self.sums.get(key)
        if values is None:
            values = self.sums[key] = [0] * (2 * _WIDTH)
        index = REPORT_INDEX[token_type]
        values[index] += tokens or 0
        values[_WIDTH + index] -= amount

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "slot": slot,
                "endpoint": endpoint,
                "model": model,
                "context": context,
                **dict(zip(_VALUE_COLUMNS, values, strict=True)),
            }
            for (slot, endpoint, model, context), values in sorted(self.sums.items())
        ]


_WIDTH = len(TOKEN_TYPES)


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
