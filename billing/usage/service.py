"""Usage rules: price events, record them exactly once, charge the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy.orm import Session

from billing import bulk, idempotency, metrics, money
from billing.balances import repository as balance_repo
from billing.balances.roles import assign_roles
from billing.balances.service import ledger_row, touch_users
from billing.budgets.alerts import emit_after_spend
from billing.errors import BillingError, IdempotencyConflict, InvalidRequest
from billing.pricing.engine import PriceBook
from billing.pricing.types import CACHE_WRITE_1H, Cost
from billing.reports import rollups
from billing.reservations.service import settle
from billing.reservations.types import Settlement, UsageClaim
from billing.runtime import ConfigSnapshot
from billing.usage import repository as repo
from billing.usage.normalize import UsageWarning
from billing.usage.schemas import QuoteRequest, UsageEventIn

# Events stamped absurdly far from now are client bugs, not usage.
MAX_PAST = timedelta(days=366 * 10)
MAX_FUTURE = timedelta(days=1)

# An event's billing-relevant content (usage_event column -> the name an
# idempotency conflict reports): a repeated event_id is a duplicate only with
# all of these equal. Token counts are the disjoint counts, whether sent as
# ``tokens`` or derived from ``provider_usage``. occurred_at is not content: a
# retry may stamp it anew.
CONTENT = {
    "user_id": "user_id",
    "endpoint": "endpoint",
    "model": "model",
    "context": "context",
    "conversation_id": "conversation_id",
    "message_id": "message_id",
    "reservation_id": "reservation_id",
    "prompt_tokens": "tokens.prompt",
    "completion_tokens": "tokens.completion",
    "cache_write_tokens": "tokens.cache_write",
    "cache_read_tokens": "tokens.cache_read",
}
_CONTENT_COLUMNS = tuple(CONTENT)
_CONTENT_FIELDS = tuple(CONTENT.values())
_content = itemgetter(*_CONTENT_COLUMNS)


@dataclass(frozen=True, slots=True)
class PricedEvent:
    """An event priced, with every row it will write built in advance.

    Built by the request (``prepare_events``), outside the transaction, so the
    group commit spends its time on the database, not on Python.
    """

    event: UsageEventIn
    cost: Cost
    occurred_at: datetime
    cost_json: dict[str, Any]
    event_row: dict[str, Any]
    ledger_rows: list[dict[str, Any]]  # empty when transactions are off
    warnings: tuple[UsageWarning, ...] = ()  # about the provider's usage numbers

    @property
    def fingerprint(self) -> bytes:
        fingerprint: bytes = self.event_row["fingerprint"]
        return fingerprint


@dataclass(frozen=True, slots=True)
class EventOutcome:
    event_id: str
    status: str  # accepted | duplicate
    cost: dict[str, Any]
    balance_micro: int | None
    reservation: Settlement | None = None  # what the event's reservation_id did
    warnings: tuple[UsageWarning, ...] = ()


def quote(prices: PriceBook, request: QuoteRequest) -> Cost:
    return prices.price(request.endpoint, request.model, request.token_counts(), request.context)


def _occurred_at(event: UsageEventIn, where: str, now: datetime) -> datetime:
    when = event.occurred_at or now
    if when.tzinfo is None:
        raise InvalidRequest(
            f"{where}occurred_at: needs a time zone (e.g. Z)", field=f"{where}occurred_at"
        )
    if not now - MAX_PAST <= when <= now + MAX_FUTURE:
        raise InvalidRequest(
            f"{where}occurred_at: {when.isoformat()} is outside the accepted window: at most "
            f"{MAX_PAST.days} days before and {MAX_FUTURE.days} day after the server's time "
            f"({now.isoformat(timespec='seconds')})",
            field=f"{where}occurred_at",
        )
    return when


def price_events(
    prices: PriceBook, events: Sequence[UsageEventIn], now: datetime, *, batch: bool = True
) -> list[tuple[UsageEventIn, Cost, datetime, tuple[UsageWarning, ...]]]:
    """(event, cost, occurred_at, warnings) per event; in a batch errors name the index."""
    priced = []
    for index, event in enumerate(events):
        where = f"events[{index}]." if batch else ""
        try:
            usage = event.normalized()
            cost = prices.price(event.endpoint, event.model, usage.counts, event.context)
        except BillingError as exc:
            if not batch:
                raise
            extra = dict(exc.extra)
            if "field" in extra:
                extra["field"] = f"{where}{extra['field']}"
            raise type(exc)(f"events[{index}]: {exc.detail}", **extra) from exc
        priced.append((event, cost, _occurred_at(event, where, now), usage.warnings))
    return priced


def prepare_events(
    snapshot: ConfigSnapshot, events: Sequence[UsageEventIn], now: datetime, *, batch: bool = True
) -> list[PricedEvent]:
    """Price events and build their rows (received at ``now``); no I/O.

    ``batch``: the events came as ``{"events": [...]}``, so errors say which one.
    An event_id repeated in the batch with other content refuses the batch
    (idempotency_conflict), like any bad event.
    """
    charged = snapshot.config.transactions_enabled
    prepared = []
    for event, cost, occurred_at, warnings in price_events(
        snapshot.prices, events, now, batch=batch
    ):
        cost_json = cost.to_json()
        prepared.append(
            PricedEvent(
                event,
                cost,
                occurred_at,
                cost_json,
                _event_row(event, cost, cost_json, occurred_at, now),
                _ledger_rows(event, cost, occurred_at) if charged else [],
                warnings,
            )
        )
    refused = repeat_conflict(prepared, {})
    if refused is not None:
        raise refused
    return prepared


def repeat_conflict(
    priced: Sequence[PricedEvent], seen: dict[str, PricedEvent]
) -> IdempotencyConflict | None:
    """The refusal of the first event repeating, with other content, an event_id
    of ``seen`` (events posted before) or of an earlier event of ``priced``.
    Without one, ``seen`` gains the first occurrence of each of these ids."""
    mine: dict[str, int] = {}
    for index, item in enumerate(priced):
        event_id = item.event.event_id
        earlier = seen.get(event_id)
        where = _where(index, len(priced))
        if earlier is None:
            at = mine.setdefault(event_id, index)
            if at == index:
                continue
            earlier, where = priced[at], f"events[{index}] (repeating events[{at}]): "
        if earlier.fingerprint != item.fingerprint:
            fields = _differing(_content(earlier.event_row), item)
            return idempotency.conflict(where, "event_id", event_id, fields)
    for event_id, at in mine.items():
        seen[event_id] = priced[at]
    return None


def record_requests(
    session: Session, snapshot: ConfigSnapshot, requests: list[list[PricedEvent]], now: datetime
) -> list[list[EventOutcome] | IdempotencyConflict]:
    """Several requests' priced events in one transaction (group commit), as if
    posted one after the other: an event_id seen earlier in the group is a
    duplicate of it, or, with other content, refuses the later request alone
    (its result is the IdempotencyConflict; the committer raises it to that
    request). One outcome list per request, in order."""
    seen: dict[str, PricedEvent] = {}
    refusals = []
    for batch in requests:
        refusals.append(repeat_conflict(batch, seen))
    kept = [
        item
        for batch, refused in zip(requests, refusals, strict=True)
        if refused is None
        for item in batch
    ]
    outcomes = record(session, snapshot, kept, now)
    split: list[list[EventOutcome] | IdempotencyConflict] = []
    start = 0
    for batch, refused in zip(requests, refusals, strict=True):
        if refused is not None:
            split.append(refused)
            continue
        split.append(outcomes[start : start + len(batch)])
        start += len(batch)
    return split


def record(
    session: Session, snapshot: ConfigSnapshot, priced: Sequence[PricedEvent], now: datetime
) -> list[EventOutcome]:
    """Record priced events in the caller's transaction; one outcome per event, in order.

    An event_id already recorded (or repeated here) with other content raises
    IdempotencyConflict: the caller rolls back, nothing of the batch lands.
    """
    if not priced:
        return []
    first: dict[str, PricedEvent] = {}
    refused = repeat_conflict(priced, first)
    if refused is not None:
        raise refused
    if len(first) < bulk.COPY_MIN_ROWS:
        inserted, stored, entries = _write_events_first(session, priced, first)
    else:
        inserted, stored, entries = _write_ledger_first(session, priced, first)
    accepted = [item for event_id, item in first.items() if event_id in inserted]
    # Counted once the transaction commits.
    metrics.record_ingest(
        session, snapshot.config, [i.cost for i in accepted], duplicates=len(priced) - len(accepted)
    )
    warned = [w.code for item in accepted for w in item.warnings]
    if warned:
        metrics.record_usage_warnings(session, warned)

    balances = _charge(session, snapshot, accepted, entries, now) if accepted else {}
    settlements = _settle_reservations(session, accepted, now)
    outcomes = []
    seen: set[str] = set()
    for item in priced:
        event_id = item.event.event_id
        fresh = event_id in inserted and event_id not in seen
        seen.add(event_id)
        if event_id in stored:
            user_id, cost_text, _ = stored[event_id]
            cost = orjson.loads(cost_text)
        else:
            user_id, cost = item.event.user_id, first[event_id].cost_json
        outcomes.append(
            EventOutcome(
                event_id=event_id,
                status="accepted" if fresh else "duplicate",
                cost=cost,
                balance_micro=balances.get(user_id),
                reservation=settlements.get(event_id) if fresh else None,
                warnings=item.warnings,
            )
        )
    _fill_untouched_balances(session, outcomes, stored)
    return outcomes


Stored = dict[str, tuple[str, str, bytes | None]]  # event_id -> user, cost, fingerprint
Written = tuple[set[str], Stored, list[dict[str, Any]]]


def _write_events_first(
    session: Session, priced: Sequence[PricedEvent], first: dict[str, PricedEvent]
) -> Written:
    """A few events (single-event groups): insert them, then the ledger rows of
    those inserted. The insert tells duplicates apart by itself: one statement
    less than the order below, which matters when a group holds one event."""
    inserted = repo.insert_new_events(session, [item.event_row for item in first.values()])
    stored = repo.stored_events(session, set(first) - inserted)
    _refuse_other_content(session, priced, first, stored)
    entries = [row for id_, item in first.items() if id_ in inserted for row in item.ledger_rows]
    balance_repo.insert_ledger(session, entries)
    return inserted, stored, entries


def _write_ledger_first(
    session: Session, priced: Sequence[PricedEvent], first: dict[str, PricedEvent]
) -> Written:
    """Many events: ledger rows before the event insert. A concurrent transaction
    posting one of these event_ids waits on the unique index until this one ends;
    inserting the events last keeps that wait to the tail of the transaction."""
    # Retries of committed events are known at once, without waiting on anyone.
    stored = repo.stored_events(session, first)
    _refuse_other_content(session, priced, first, stored)
    unseen = [item for event_id, item in first.items() if event_id not in stored]
    entries = [row for item in unseen for row in item.ledger_rows]
    balance_repo.insert_ledger(session, entries)
    inserted = repo.insert_new_events(session, [item.event_row for item in unseen])
    raced = {e.event_id: e.user_id for item in unseen if (e := item.event).event_id not in inserted}
    if raced:  # committed meanwhile by another transaction: take back our rows
        committed = repo.stored_events(session, raced)
        _refuse_other_content(session, priced, first, committed)
        balance_repo.delete_usage_rows_written_here(session, raced)
        stored.update(committed)
        entries = [row for row in entries if row["event_id"] in inserted]
    return inserted, stored, entries


def _refuse_other_content(
    session: Session, priced: Sequence[PricedEvent], first: dict[str, PricedEvent], stored: Stored
) -> None:
    """Raise IdempotencyConflict for the first event whose id is recorded with
    other content. Equal fingerprints are the same content; otherwise (or for
    events recorded before fingerprints, NULL) the stored columns decide, read
    only then, and name the fields that differ."""
    suspects = {id_ for id_, (_, _, fp) in stored.items() if fp != first[id_].fingerprint}
    if not suspects:
        return
    recorded = repo.stored_content(session, suspects, _CONTENT_COLUMNS)
    for index, item in enumerate(priced):
        event_id = item.event.event_id
        if event_id in suspects:
            fingerprinted = stored[event_id][2] is not None
            fields = _differing(recorded[event_id], item, fingerprinted=fingerprinted)
            if fields:
                where = _where(index, len(priced))
                raise idempotency.conflict(where, "event_id", event_id, fields)


def _charge(
    session: Session,
    snapshot: ConfigSnapshot,
    accepted: list[PricedEvent],
    entries: list[dict[str, Any]],
    now: datetime,
) -> dict[str, int]:
    """Rollups and balance updates for newly accepted events (their ledger
    rows, ``entries``, are written); user -> new balance.

    The balances are locked last, so concurrent groups over the same users
    wait on each other only for the lock-update-commit tail.
    """
    config = snapshot.config
    roles = {e.user_id: e.role for item in accepted if (e := item.event).role is not None}
    if roles:  # before touch_users: a user first seen with a role gets the role's policy
        assign_roles(session, config, roles, now)
    if not config.transactions_enabled:
        return {}
    rollups.record(session, entries)  # same transaction: reports never drift
    deltas: dict[str, int] = {}
    for item in accepted:
        user_id = item.event.user_id
        deltas[user_id] = deltas.get(user_id, 0) - item.cost.total_micro
    rows = touch_users(session, deltas, config, now)
    balance_repo.add_to_balances(session, deltas, now)
    emit_after_spend(session, config, deltas, now)  # budget.threshold / budget.exceeded
    return {user_id: row.amount_micro + deltas.get(user_id, 0) for user_id, row in rows.items()}


def _ledger_rows(event: UsageEventIn, cost: Cost, occurred_at: datetime) -> list[dict[str, Any]]:
    """One usage row per non-empty line; copies of one template (C-level dict copy,
    ~3x cheaper than building each row from keywords: make bench)."""
    template = ledger_row(
        event.user_id,
        "usage",
        0,
        occurred_at,
        value_key=cost.value_key,
        priced_by=cost.priced_by,
        context=event.context,
        endpoint=event.endpoint,
        model=event.model,
        conversation_id=event.conversation_id,
        message_id=event.message_id,
        event_id=event.event_id,
    )
    rows = []
    for line in cost.lines:
        if line.tokens or line.micro:
            row = template.copy()
            row["amount_micro"] = -line.micro
            row["token_type"] = line.token_type
            row["tokens"] = line.tokens
            row["rate"] = money.rate_str(line.rate)
            rows.append(row)
    return rows


def _settle_reservations(
    session: Session, accepted: list[PricedEvent], now: datetime
) -> dict[str, Settlement]:
    """Close the holds named by newly accepted events (after their balances are locked)."""
    claims = [
        UsageClaim(e.event_id, e.user_id, e.reservation_id, item.cost.total_micro)
        for item in accepted
        if (e := item.event).reservation_id
    ]
    return settle(session, claims, now) if claims else {}


def _fill_untouched_balances(
    session: Session, outcomes: list[EventOutcome], stored: Stored
) -> None:
    """Duplicates of users not charged in this batch report their current balance."""
    missing = [
        index
        for index, outcome in enumerate(outcomes)
        if outcome.balance_micro is None and outcome.event_id in stored
    ]
    if not missing:
        return
    users = {stored[outcomes[index].event_id][0] for index in missing}
    amounts = balance_repo.balance_amounts(session, users)  # one query for the batch
    for index in missing:
        outcome = outcomes[index]
        amount = amounts.get(stored[outcome.event_id][0])
        if amount is not None:
            outcomes[index] = EventOutcome(
                outcome.event_id, outcome.status, outcome.cost, amount, warnings=outcome.warnings
            )


def _event_row(
    event: UsageEventIn,
    cost: Cost,
    cost_json: dict[str, Any],
    occurred_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    lines = {line.token_type: line.tokens for line in cost.lines}
    row: dict[str, Any] = {
        "event_id": event.event_id,
        "user_id": event.user_id,
        "endpoint": event.endpoint,
        "model": event.model,
        "context": event.context,
        "conversation_id": event.conversation_id,
        "message_id": event.message_id,
        "reservation_id": event.reservation_id,
        "prompt_tokens": lines["prompt"],
        "completion_tokens": lines["completion"],
        "cache_write_tokens": lines["cache_write"] + lines.get(CACHE_WRITE_1H, 0),  # both TTLs
        "cache_read_tokens": lines["cache_read"],
        "value_key": cost.value_key,
        "priced_by": cost.priced_by,
        "total_micro": cost.total_micro,
        "cost_json": orjson.dumps(cost_json).decode(),  # compact, like json.dumps(separators)
        "occurred_at": occurred_at,
        "received_at": now,
    }
    # The 1-hour cache writes are content too, but not a column of their own
    # (cache_write_tokens holds both TTLs): the fingerprint covers the split.
    row["fingerprint"] = idempotency.fingerprint((*_content(row), lines.get(CACHE_WRITE_1H, 0)))
    return row


def _differing(
    recorded: Sequence[object], item: PricedEvent, *, fingerprinted: bool = True
) -> list[str]:
    """Names of the content fields in which ``item`` differs from ``recorded``
    (stored columns) whose fingerprint differs. Equal columns with a different
    fingerprint leave only the 1-hour share of the cache writes to differ."""
    fields = idempotency.differing(_CONTENT_FIELDS, recorded, _content(item.event_row))
    if not fields and fingerprinted:
        fields = ["tokens.cache_write_1h"]
    return fields


def _where(index: int, count: int) -> str:
    """How an error names the event: by index in a batch, not at all for one event."""
    return f"events[{index}]: " if count > 1 else ""
