"""Report queries over usage ledger rows (the only place that builds them).

Spend is what billing/reports/spend.py says: priced token lines recorded here
or imported from LibreChat; grants, refills, set-balance and opening rows move
balances but are not spend. Spend rows are debits (negative ``amount_micro``),
so a cost is the negated sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, case, func, literal, literal_column, select
from sqlalchemy.orm import Session

from billing import dialect
from billing.models import LedgerEntry, UsageRollup
from billing.models.usage_rollup import SLOT_SECONDS
from billing.pricing.types import TOKEN_TYPES
from billing.reports.slots import slot_number
from billing.reports.spend import REPORTED_AS, spend_clause
from billing.reports.timezones import OffsetSegment

# Dimensions that are plain ledger columns.
COLUMN_DIMENSIONS = ("user_id", "endpoint", "model", "context")
UNIT_SECONDS = {"day": 86_400, "hour": 3_600}


@dataclass(frozen=True, slots=True)
class CostFilter:
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    user_id: str | None = None
    endpoint: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class TimeBucket:
    """Truncate local time to ``unit`` ('day' or 'hour') using these UTC offsets."""

    unit: str
    segments: Sequence[OffsetSegment]


@dataclass(frozen=True, slots=True)
class CostGroup:
    """One aggregated row: the requested column values, the bucket, sums per token type."""

    columns: tuple[str | None, ...]  # values of the requested columns, in their order
    local_bucket: int | None  # local wall-clock seconds since 1970 // unit, or None
    offset_seconds: int | None
    tokens: tuple[int, ...]  # per token type, TOKEN_TYPES order
    costs: tuple[int, ...]  # micro-credits per token type (positive: spend)


def _where(stmt: Any, flt: CostFilter) -> Any:
    stmt = stmt.where(spend_clause(LedgerEntry))
    if flt.start is not None:
        stmt = stmt.where(LedgerEntry.created_at >= flt.start)
    if flt.end is not None:
        stmt = stmt.where(LedgerEntry.created_at < flt.end)
    for name in ("user_id", "endpoint", "model"):
        value = getattr(flt, name)
        if value is not None:
            stmt = stmt.where(getattr(LedgerEntry, name) == value)
    return stmt


def ledger_time_range(session: Session) -> tuple[datetime, datetime] | None:
    """First and last ledger timestamps: a superset of any filter's usage rows.

    Two bare scalar min/max queries, so both backends answer from the
    created_at index instead of scanning (SQLite only does that unfiltered).
    """
    first = select(func.min(LedgerEntry.created_at)).scalar_subquery()
    last = select(func.max(LedgerEntry.created_at)).scalar_subquery()
    row = session.execute(select(first, last)).one()
    if row[0] is None:
        return None
    return _aware(row[0]), _aware(row[1])


def _aware(value: Any) -> datetime:
    # Aggregates bypass the column type on SQLite: parse its stored text.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _offset_expr(seconds: Any, segments: Sequence[OffsetSegment]) -> ColumnElement[int]:
    if len(segments) == 1:
        return literal(segments[0].offset_seconds, BigInteger)
    whens = [(seconds < epoch_of(nxt.start), seg.offset_seconds) for seg, nxt in pairwise(segments)]
    return case(*whens, else_=segments[-1].offset_seconds)


def epoch_of(when: datetime) -> int:
    return int(when.timestamp())


def _time_keys(bucket: TimeBucket | None, seconds: Any) -> list[Any]:
    """Local bucket number ((UTC seconds + offset) // unit) and, for hours, the offset.

    Integer arithmetic, the same on both backends; the service turns the
    number back into a local date or hour.
    """
    if bucket is None:
        return []
    offset = _offset_expr(seconds, bucket.segments)
    unit = UNIT_SECONDS[bucket.unit]
    keys = [((seconds + offset) // unit).label("local_bucket")]
    # Day buckets ignore the offset (a DST day is one 23 or 25 hour day).
    if bucket.unit == "hour":
        keys.append(offset.label("offset_seconds"))
    return keys


def _by_position(count: int) -> list[Any]:
    # PostgreSQL would not match the CASE's bound parameters in the select
    # list against the same expression repeated in GROUP BY.
    return [literal_column(str(i)) for i in range(1, count + 1)]


def cost_groups(
    session: Session, flt: CostFilter, columns: Sequence[str], bucket: TimeBucket | None
) -> list[CostGroup]:
    """Sum tokens and cost of usage ledger rows by ``columns``, bucket and token type."""
    keys: list[Any] = [getattr(LedgerEntry, name).label(name) for name in columns]
    keys.append(LedgerEntry.token_type.label("token_type"))
    keys += _time_keys(bucket, dialect.of(session).epoch_seconds(LedgerEntry.created_at))
    stmt = select(
        *keys,
        func.coalesce(func.sum(LedgerEntry.tokens), 0).label("tokens"),
        func.sum(LedgerEntry.amount_micro).label("amount"),
    )
    stmt = _where(stmt, flt).group_by(*_by_position(len(keys)))
    groups = []
    for row in session.execute(stmt):
        mapping = row._mapping
        groups.append(
            CostGroup(
                columns=tuple(mapping[name] for name in columns),
                local_bucket=mapping.get("local_bucket"),
                offset_seconds=mapping.get("offset_seconds"),
                tokens=_one_type(mapping["token_type"], int(mapping["tokens"])),
                costs=_one_type(mapping["token_type"], -int(mapping["amount"])),
            )
        )
    return groups


def _one_type(token_type: str, value: int) -> tuple[int, ...]:
    shown = REPORTED_AS[token_type]
    return tuple(value if name == shown else 0 for name in TOKEN_TYPES)


def rollup_cost_groups(
    session: Session, flt: CostFilter, columns: Sequence[str], bucket: TimeBucket | None
) -> list[CostGroup]:
    """The same sums from the rollups; ``flt`` bounds must be slot-aligned, no user_id."""
    if flt.user_id is not None or "user_id" in columns:
        raise ValueError("rollups carry no user_id")
    keys: list[Any] = [getattr(UsageRollup, name).label(name) for name in columns]
    keys += _time_keys(bucket, UsageRollup.slot * SLOT_SECONDS)
    sums = [
        func.sum(getattr(UsageRollup, f"{t}_{what}")).label(f"{t}_{what}")
        for what in ("tokens", "micro")
        for t in TOKEN_TYPES
    ]
    stmt = select(*keys, *sums)
    if flt.start is not None:
        stmt = stmt.where(UsageRollup.slot >= slot_number(flt.start))
    if flt.end is not None:
        stmt = stmt.where(UsageRollup.slot < slot_number(flt.end))
    for name in ("endpoint", "model"):
        value = getattr(flt, name)
        if value is not None:
            stmt = stmt.where(getattr(UsageRollup, name) == value)
    if keys:
        stmt = stmt.group_by(*_by_position(len(keys)))
    width = len(TOKEN_TYPES)
    groups = []
    for row in session.execute(stmt):
        values = tuple(int(v or 0) for v in row[len(keys) :])
        groups.append(
            CostGroup(
                columns=tuple(row[: len(columns)]),
                local_bucket=row[len(columns)] if bucket is not None else None,
                offset_seconds=row[len(columns) + 1] if len(keys) > len(columns) + 1 else None,
                tokens=values[:width],
                costs=values[width:],
            )
        )
    return groups


@dataclass(frozen=True, slots=True)
class ConversationLine:
    event_id: str | None
    message_id: str | None
    user_id: str
    endpoint: str | None
    model: str | None
    context: str | None
    value_key: str | None
    priced_by: str | None
    token_type: str | None
    tokens: int
    rate: str | None
    cost_micro: int
    occurred_at: datetime
    kind: str = "usage"  # a spend kind (reports/spend.py): "void" marks a voided event


def conversation_lines(
    session: Session, conversation_id: str, user_id: str | None
) -> list[ConversationLine]:
    """Usage rows of one conversation, oldest first (index on conversation_id)."""
    entry = LedgerEntry
    stmt = (
        select(
            entry.event_id,
            entry.message_id,
            entry.user_id,
            entry.endpoint,
            entry.model,
            entry.context,
            entry.value_key,
            entry.priced_by,
            entry.token_type,
            entry.tokens,
            entry.rate,
            entry.amount_micro,
            entry.created_at,
            entry.kind,
        )
        .where(entry.conversation_id == conversation_id, spend_clause(entry))
        .order_by(entry.created_at, entry.id)
    )
    if user_id is not None:
        stmt = stmt.where(entry.user_id == user_id)
    return [
        ConversationLine(
            *row[:9], int(row.tokens or 0), row.rate, -row.amount_micro, row[12], row.kind
        )
        for row in session.execute(stmt)
    ]
