"""Usage rules: price events, record them exactly once (billing/usage/ingest.py), answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from billing import metrics
from billing.balances import repository as balance_repo
from billing.errors import BillingError, IdempotencyConflict, InvalidRequest
from billing.frozen import fast_constructor
from billing.pricing.engine import PriceBook
from billing.pricing.types import Cost
from billing.reservations.types import Settlement
from billing.runtime import ConfigSnapshot
from billing.usage import ingest
from billing.usage.ingest import Stored, repeat_conflict
from billing.usage.normalize import UsageWarning
from billing.usage.rows import PricedEvent, priced_event
from billing.usage.schemas import QuoteRequest, UsageEventIn

# Events stamped absurdly far from now are client bugs, not usage.
MAX_PAST = timedelta(days=366 * 10)
MAX_FUTURE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class EventOutcome:
    event_id: str
    status: str  # accepted | duplicate
    # The cost object, or its JSON text (as built or stored: the answer embeds it as is).
    cost: dict[str, Any] | str
    balance_micro: int | None
    reservation: Settlement | None = None  # what the event's reservation_id did
    warnings: tuple[UsageWarning, ...] = ()


_new_outcome: Callable[..., EventOutcome] = fast_constructor(EventOutcome)


def quote(prices: PriceBook, request: QuoteRequest) -> Cost:
    return prices.price(request.endpoint, request.model, request.token_counts(), request.context)


def _occurred_at(event: UsageEventIn, where: str, now: datetime) -> datetime:
    """When the event happened: given with a time zone, within the window around
    ``now`` (else refused, naming it by ``where``). prepare_events applies the rule
    inline and calls this for the refusal."""
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


def prepare_events(
    snapshot: ConfigSnapshot, events: Sequence[UsageEventIn], now: datetime, *, batch: bool = True
) -> list[PricedEvent]:
    """Price events and build their rows (received at ``now``); no I/O.

    ``batch``: the events came as ``{"events": [...]}``, so errors say which one.
    An event_id repeated in the batch with other content refuses the batch
    (idempotency_conflict), like any bad event.
    """
    charged = snapshot.config.transactions_enabled
    book = snapshot.prices.version
    price = snapshot.prices.price_counts
    earliest, latest = now - MAX_PAST, now + MAX_FUTURE  # _occurred_at's window
    prepared = []
    for index, event in enumerate(events):
        try:
            usage = event.normalized()
            counts = usage.counts
            cost = price(
                event.endpoint,
                event.model,
                counts.prompt,
                counts.completion,
                counts.cache_write,
                counts.cache_read,
                counts.cache_write_1h,
                event.context,
            )
        except BillingError as exc:
            if not batch:
                raise
            raise _in_batch(exc, index) from exc
        # _occurred_at's rules, its work (and its error's wording) only when one fails.
        occurred_at = event.occurred_at
        if occurred_at is None:
            occurred_at = now
        elif occurred_at.tzinfo is None or not earliest <= occurred_at <= latest:
            _occurred_at(event, f"events[{index}]." if batch else "", now)  # raises
        prepared.append(
            priced_event(
                event, cost, occurred_at, usage.warnings, now, charged=charged, price_book=book
            )
        )
    refused = repeat_conflict(prepared, {})
    if refused is not None:
        raise refused
    return prepared


def _in_batch(exc: BillingError, index: int) -> BillingError:
    """The error of event ``index`` of a batch, naming it."""
    extra = dict(exc.extra)
    if "field" in extra:
        extra["field"] = f"events[{index}].{extra['field']}"
    return type(exc)(f"events[{index}]: {exc.detail}", **extra)


def record_requests(
    session: Session, snapshot: ConfigSnapshot, requests: list[list[PricedEvent]], now: datetime
) -> list[list[EventOutcome] | IdempotencyConflict]:
    """Several requests' priced events in one transaction (group commit), as if
    posted one after the other: an event_id seen earlier in the group is a
    duplicate of it, or, with other content, refuses the later request alone
    (its result is the IdempotencyConflict; the committer raises it to that
    request). One outcome list per request, in order."""
    if len(requests) == 1:  # nothing posted before it: prepare_events checked its repeats
        return [record(session, snapshot, requests[0], now)]
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
    done = ingest.record(session, snapshot.config, priced, now)
    # Counted once the transaction commits.
    metrics.record_ingest(
        session,
        snapshot.config,
        [i.cost for i in done.accepted],
        duplicates=len(priced) - len(done.accepted),
    )
    warned = [w.code for item in done.accepted for w in item.warnings]
    if warned:
        metrics.record_usage_warnings(session, warned)
    # Per event, the hot loop of the answer: locals, positional construction
    # (billing/frozen.py: ~3x cheaper than the frozen __init__).
    new = _new_outcome
    inserted, stored, first = done.inserted, done.stored, done.first
    balances, settlements = done.balances, done.settlements
    outcomes = []
    answered: set[str] = set()  # ids answered once: a repeat in the call is a duplicate
    for item in priced:
        event_id = item.event.event_id
        if event_id in stored:
            user_id, cost_text, _ = stored[event_id]
            outcome = new(
                event_id, "duplicate", cost_text, balances.get(user_id), None, item.warnings
            )
        else:
            fresh = event_id in inserted and event_id not in answered
            outcome = new(
                event_id,
                "accepted" if fresh else "duplicate",
                first[event_id].cost_text,
                balances.get(item.event.user_id),
                settlements.get(event_id) if fresh else None,
                item.warnings,
            )
        answered.add(event_id)
        outcomes.append(outcome)
    _fill_untouched_balances(session, outcomes, done.stored)
    return outcomes


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
