"""Cost breakdowns and conversation costs over the usage ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from billing import dialect
from billing.config.model import CurrencyConfig
from billing.errors import InvalidRequest, NotFound
from billing.models.usage_rollup import SLOT_SECONDS
from billing.money import format_decimal
from billing.pricing.types import TOKEN_TYPES
from billing.reports import repository as repo
from billing.reports import rollup_repository
from billing.reports.money_view import DisplayCurrency, Tally, display_currency
from billing.reports.repository import UNIT_SECONDS
from billing.reports.schemas import (
    ConversationCostOut,
    ConversationEventOut,
    ConversationMessageOut,
    CostRow,
    CostsOut,
)
from billing.reports.slots import slot_ceil, slot_floor
from billing.reports.timezones import format_offset, offset_segments, parse_zone

GROUP_DIMENSIONS = ("user_id", "endpoint", "model", "token_type", "context", "day", "hour")
MAX_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class CostsQuery:
    start: datetime | None
    end: datetime | None
    group_by: Sequence[str]  # raw query values: 'day,model' or repeated
    tz: str = "UTC"
    currency: str | None = None
    user_id: str | None = None
    endpoint: str | None = None
    model: str | None = None
    limit: int = 1000


def parse_group_by(values: Sequence[str]) -> list[str]:
    """``day,model`` or repeated params; order kept, duplicates dropped."""
    names: list[str] = []
    for value in values:
        for name in (part.strip() for part in value.split(",")):
            if not name or name in names:
                continue
            if name not in GROUP_DIMENSIONS:
                raise InvalidRequest(
                    f"group_by: unknown dimension {name!r} (use {', '.join(GROUP_DIMENSIONS)})",
                    field="group_by",
                )
            names.append(name)
    return names


def _check_range(start: datetime | None, end: datetime | None) -> None:
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise InvalidRequest(f"{name}: needs a time zone (e.g. Z)", field=name)
    if start is not None and end is not None and start >= end:
        raise InvalidRequest("from: must be earlier than to", field="from")


class _NoUsage(Exception):
    """No usage row can match: skip the aggregate query."""


def _bucket(session: Session, query: CostsQuery, group_by: Sequence[str]) -> repo.TimeBucket | None:
    """The local-time bucket to group by, with the zone's offsets over the range."""
    unit = "hour" if "hour" in group_by else "day" if "day" in group_by else None
    if unit is None:
        return None
    zone = parse_zone(query.tz)
    # Offsets matter only where ledger rows exist: clamping to them also
    # bounds the work for a range such as year 1 to 9999.
    found = repo.ledger_time_range(session)
    if found is None:
        raise _NoUsage
    start = max(query.start, found[0]) if query.start is not None else found[0]
    end = min(query.end, found[1]) if query.end is not None else found[1]
    if start > end:
        raise _NoUsage
    return repo.TimeBucket(unit, offset_segments(zone, start, end))


def _slot_aligned(bucket: repo.TimeBucket | None) -> bool:
    """Whether every rollup slot falls inside one local bucket."""
    if bucket is None:
        return True
    if any(seg.offset_seconds % SLOT_SECONDS for seg in bucket.segments):
        return False
    return all(slot_floor(seg.start) == seg.start for seg in bucket.segments[1:])


def _cost_groups(
    session: Session, flt: repo.CostFilter, columns: list[str], bucket: repo.TimeBucket | None
) -> list[repo.CostGroup]:
    """Whole 15-minute slots from the rollups, the ragged ends from the ledger.

    Per-user questions go to the ledger (the rollups carry no user id; one
    user's rows are found through the user_id index).
    """
    if flt.user_id is not None or "user_id" in columns or not _slot_aligned(bucket):
        return repo.cost_groups(session, flt, columns, bucket)
    inner_start = slot_ceil(flt.start) if flt.start is not None else None
    inner_end = slot_floor(flt.end) if flt.end is not None else None
    if inner_start is not None and inner_end is not None and inner_start >= inner_end:
        return repo.cost_groups(session, flt, columns, bucket)
    inner = replace(flt, start=inner_start, end=inner_end)
    groups = repo.rollup_cost_groups(session, inner, columns, bucket)
    if flt.start is not None and inner_start != flt.start:
        edge = replace(flt, end=inner_start)
        groups += repo.cost_groups(session, edge, columns, bucket)
    if flt.end is not None and inner_end != flt.end:
        edge = replace(flt, start=inner_end)
        groups += repo.cost_groups(session, edge, columns, bucket)
    return groups


class _BucketLabels:
    """Day/hour labels and UTC start of each bucket, computed once per bucket."""

    def __init__(self, unit: str | None) -> None:
        self.seconds = UNIT_SECONDS[unit] if unit is not None else 0
        self._seen: dict[tuple[int | None, int | None], tuple[str, str, datetime]] = {}

    def __call__(self, bucket: int | None, offset: int | None) -> tuple[str, str, datetime]:
        """(day, hour, UTC start); hour is '' for day buckets."""
        labels = self._seen.get((bucket, offset))
        if labels is None:
            local = datetime(1970, 1, 1) + timedelta(seconds=(bucket or 0) * self.seconds)
            hour = "" if offset is None else local.isoformat() + format_offset(offset)
            start = (local - timedelta(seconds=offset or 0)).replace(tzinfo=UTC)
            labels = self._seen[(bucket, offset)] = (local.date().isoformat(), hour, start)
        return labels


def _aggregate(
    groups: list[repo.CostGroup], group_by: list[str], columns: list[str], unit: str | None
) -> tuple[dict[tuple[str | None, ...], Tally], dict[tuple[str | None, ...], datetime], Tally]:
    """Fold database groups into report rows keyed by the group_by values."""
    labels = _BucketLabels(unit)
    by_type = "token_type" in group_by
    tallies: dict[tuple[str | None, ...], Tally] = {}
    starts: dict[tuple[str | None, ...], datetime] = {}
    total = Tally()
    for group in groups:
        if not any(group.tokens) and not any(group.costs):
            continue
        day, hour, start = labels(group.local_bucket, group.offset_seconds)
        values: dict[str, str | None] = dict(zip(columns, group.columns, strict=True))
        values["day"], values["hour"] = day, hour
        total.add(group.tokens, sum(group.costs))
        splits = (
            [(t, i) for i, t in enumerate(TOKEN_TYPES) if group.tokens[i] or group.costs[i]]
            if by_type
            else [(None, -1)]
        )
        for token_type, index in splits:
            values["token_type"] = token_type
            ident = tuple(values[name] for name in group_by)
            tally = tallies.get(ident)
            if tally is None:
                tally = tallies[ident] = Tally()
                starts[ident] = start
            if index < 0:
                tally.add(group.tokens, sum(group.costs))
            else:
                tally.add_line(token_type, group.tokens[index], group.costs[index])
    return tallies, starts, total


def costs(session: Session, configured: CurrencyConfig, query: CostsQuery) -> CostsOut:
    """Totals of tokens and spend grouped by any of GROUP_DIMENSIONS."""
    _check_range(query.start, query.end)
    group_by = parse_group_by(query.group_by)
    zone_name = parse_zone(query.tz).key
    currency = display_currency(configured, query.currency)
    flt = repo.CostFilter(query.start, query.end, query.user_id, query.endpoint, query.model)
    columns = [name for name in group_by if name in repo.COLUMN_DIMENSIONS]
    unit = "hour" if "hour" in group_by else "day" if "day" in group_by else None
    try:
        groups = _cost_groups(session, flt, columns, _bucket(session, query, group_by))
    except _NoUsage:
        groups = []

    tallies, starts, total = _aggregate(groups, group_by, columns, unit)

    def order(ident: tuple[str | None, ...]) -> tuple[object, ...]:
        return (starts[ident], *((value is not None, value or "") for value in ident))

    ordered = sorted(tallies, key=order)
    rows = [
        CostRow(key=dict(zip(group_by, ident, strict=True)), **tallies[ident].spend(currency))
        for ident in ordered[: query.limit]
    ]
    return CostsOut(
        from_=query.start,
        to=query.end,
        tz=zone_name,
        group_by=group_by,
        currency=currency.code,
        currency_rate=_rate_text(currency),
        rows=rows,
        total=total.to_spend(currency),
        truncated=len(ordered) > query.limit,
    )


def _rate_text(currency: DisplayCurrency) -> str:
    return format_decimal(currency.rate)


def conversation_cost(
    session: Session,
    configured: CurrencyConfig,
    conversation_id: str,
    *,
    user_id: str | None = None,
    currency_code: str | None = None,
) -> ConversationCostOut:
    """Per-message and total spend of one conversation, oldest message first."""
    currency = display_currency(configured, currency_code)
    lines = repo.conversation_lines(session, conversation_id, user_id)
    if not lines:
        raise NotFound(f"no usage recorded for conversation {conversation_id!r}")
    events: dict[str | None, tuple[repo.ConversationLine, Tally]] = {}
    by_message: dict[str | None, list[str | None]] = {}
    total = Tally()
    voided: set[str | None] = set()
    for line in lines:
        # Rows without an event id (imports) stand alone under their message.
        event_key: str | None = line.event_id if line.event_id is not None else f"#{len(events)}"
        if event_key not in events:
            events[event_key] = (line, Tally())
            by_message.setdefault(line.message_id, []).append(event_key)
        if line.kind == "void":
            voided.add(event_key)
        events[event_key][1].add_line(line.token_type, line.tokens, line.cost_micro)
        total.add_line(line.token_type, line.tokens, line.cost_micro)

    messages = []
    for message_id, event_keys in by_message.items():
        first = events[event_keys[0]][0]
        message_tally = Tally()
        event_out = []
        for event_key in event_keys:
            line, tally = events[event_key]
            message_tally.merge(tally)
            event_out.append(
                ConversationEventOut(
                    event_id=line.event_id,
                    endpoint=line.endpoint,
                    model=line.model,
                    context=line.context,
                    value_key=line.value_key,
                    priced_by=line.priced_by,
                    occurred_at=line.occurred_at,
                    voided=event_key in voided,
                    **tally.spend(currency),
                )
            )
        messages.append(
            ConversationMessageOut(
                message_id=message_id,
                endpoint=first.endpoint,
                model=first.model,
                occurred_at=first.occurred_at,
                events=event_out,
                **message_tally.spend(currency),
            )
        )
    return ConversationCostOut(
        conversation_id=conversation_id,
        user_ids=sorted({line.user_id for line in lines}),
        currency=currency.code,
        currency_rate=_rate_text(currency),
        messages=messages,
        total=total.to_spend(currency),
    )


def rebuild_rollups(
    engine: Engine, start: datetime | None = None, end: datetime | None = None
) -> int:
    """Recompute the rollups of [start, end) from the ledger in one transaction (one
    snapshot on PostgreSQL, so deleted deltas and re-read rows agree); rows written."""
    options = dialect.for_engine(engine).snapshot_options
    with engine.connect().execution_options(**options) as connection, connection.begin():
        return rollup_repository.rebuild_rollups(connection, start, end)
