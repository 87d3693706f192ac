"""Reprice runs and voids: correct recorded charges with adjustment ledger rows.

**Reprice.** Every matching event not yet priced with the current price book
(usage_event.price_book, its rates hash) is priced again from its current
lines' token counts. Each token line whose charge changes gets one ledger
row of kind ``reprice`` (amount = old charge - new charge, signed like usage
rows; ``old_rate``/``rate``; ``run_id``; the event's ids), the balances move
by exactly their sum (``balances.service.charge``: locked in user id order,
one update), the rollups get the difference, and the event records its new
lines, total and price book. The event's ``cost_json`` stays the original
answer (a retried POST gets it again) and its usage rows stay: the original
charge stays visible. Budgets read usage_event.total_micro: they see the
corrected spend.

**Idempotent per event and price book.** An event already priced with the
current book is not selected; events are locked (FOR UPDATE) and re-read in
the chunk's transaction, so two runs (or a run and a void) of one event
serialise and the second finds nothing to do. An apply commits each chunk
on its own (``group_commit.run_transaction``): a crashed run leaves whole
chunks done, and running it again finishes the rest.

**Lock order** (no deadlock with ingest): existing usage_event rows in id
order, then balances in user id order. Ingest locks no existing event row.

**Voids** reverse every current line of one event (kind ``void``: amount =
+charge, tokens = -tokens, so reports drop the event), set its total to 0 and
mark it voided; voiding it again answers the same and writes nothing.

Ledger and rollup rows of a correction are dated at the event's time
(``created_at = occurred_at``, like its usage rows): reports of that period
show the corrected cost.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from billing.audit import service as audit
from billing.audit.types import REPRICE_RUN, USAGE_VOID
from billing.balances import repository as ledger
from billing.balances import service as balances
from billing.config.model import AppConfig
from billing.errors import BillingError, NotFound
from billing.group_commit import run_transaction
from billing.ledger import ledger_row
from billing.pricebooks.service import record_current
from billing.pricing.engine import PriceBook
from billing.reports import rollup_repository
from billing.reprice import repository as repo
from billing.reprice.lines import Lines, cost_lines, current_lines, lines_text, token_counts, total
from billing.reprice.repository import EventRow
from billing.reprice.types import ModelDelta, RepriceResult, Selection, VoidResult

DEFAULT_CHUNK = 5_000

__all__ = [
    "DEFAULT_CHUNK",
    "ModelDelta",
    "RepriceResult",
    "Selection",
    "VoidResult",
    "reprice",
    "void",
]


def reprice(
    sessions: sessionmaker[Session],
    config: AppConfig,
    prices: PriceBook,
    selection: Selection,
    now: datetime,
    *,
    dry_run: bool,
    reason: str,
    key_id: str | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> RepriceResult:
    """Reprice the selection with ``prices``; an apply commits per chunk of ``chunk`` events."""
    result = RepriceResult(uuid.uuid4().hex, dry_run, prices.version)
    after = 0
    while True:
        work = partial(
            _chunk,
            config=config,
            prices=prices,
            selection=selection,
            now=now,
            run=result,
            after=after,
            size=chunk,
            reason=reason,
            key_id=key_id,
        )
        part, after, done = run_transaction(sessions, work)
        result.add(part)
        if done:
            return result


def _chunk(
    session: Session,
    *,
    config: AppConfig,
    prices: PriceBook,
    selection: Selection,
    now: datetime,
    run: RepriceResult,
    after: int,
    size: int,
    reason: str,
    key_id: str | None,
) -> tuple[RepriceResult, int, bool]:
    """One chunk in one transaction: (its tally, the last event id seen, was it empty)."""
    if after == 0 and not run.dry_run:
        record_current(session, prices, now)  # the rates the run writes are a listed version
        # Audited once, in the first chunk's transaction (a dry run writes nothing).
        audit.record(
            session,
            action=REPRICE_RUN,
            target=f"reprice:{run.run_id}",
            reason=reason,
            key_id=key_id,
            details={
                "price_book": run.price_book,
                "from": selection.start.isoformat(),
                "to": selection.end.isoformat(),
                "endpoint": selection.endpoint,
                "model": selection.model,
                "user_id": selection.user_id,
            },
        )
    events = repo.pending_chunk(
        session, selection, prices.version, after, size, lock=not run.dry_run
    )
    part = RepriceResult(run.run_id, run.dry_run, run.price_book)
    if not events:
        return part, after, True
    rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for event in events:
        _reprice_event(event, prices, run, part, rows, updates, now, reason)
    if not run.dry_run:
        repo.set_prices(session, updates)
        _apply(session, config, rows, now)
    # Not done on a short chunk: a locked row another run repriced meanwhile drops out
    # of it; the run ends on an empty one.
    return part, events[-1].id, False


def _reprice_event(
    event: EventRow,
    prices: PriceBook,
    run: RepriceResult,
    part: RepriceResult,
    rows: list[dict[str, Any]],
    updates: list[dict[str, Any]],
    now: datetime,
    reason: str,
) -> None:
    old = current_lines(event.cost_json, event.lines_json)
    try:
        cost = prices.price(event.endpoint, event.model, token_counts(old), event.context)
    except BillingError:  # endpoint no longer configured: nothing to price it with
        part.skipped_events += 1
        return
    new = cost_lines(cost)
    old_total, new_total = total(old), cost.total_micro
    part.events += 1
    part.old_micro += old_total
    part.new_micro += new_total
    tally = part.by_model.setdefault(
        (event.endpoint, event.model), ModelDelta(event.endpoint, event.model)
    )
    tally.events += 1
    tally.old_micro += old_total
    tally.new_micro += new_total
    corrections = _corrections(event, old, new, run.run_id, reason)
    if not corrections:
        updates.append({"id": event.id, "price_book": run.price_book})
        return
    part.changed_events += 1
    rows.extend(corrections)
    updates.append(
        {
            "id": event.id,
            "price_book": run.price_book,
            "lines_json": lines_text(new),
            "total_micro": new_total,
            "value_key": cost.value_key,
            "priced_by": cost.priced_by,
        }
    )


def _corrections(
    event: EventRow, old: Lines, new: Lines, run_id: str, reason: str
) -> list[dict[str, Any]]:
    """One reprice row per token line whose charge changes (old - new: usage rows are negative)."""
    rows = []
    for token_type in sorted(old.keys() | new.keys()):
        before, after = old.get(token_type), new.get(token_type)
        old_micro = before.micro if before is not None else 0
        new_micro = after.micro if after is not None else 0
        if old_micro == new_micro:
            continue
        rows.append(
            _event_row(
                event,
                "reprice",
                old_micro - new_micro,
                token_type=token_type,
                rate=after.rate if after is not None else None,
                old_rate=before.rate if before is not None else None,
                run_id=run_id,
                idempotency_key=f"reprice:{run_id}:{event.event_id}:{token_type}",
                reason=reason,
            )
        )
    return rows


def _event_row(event: EventRow, kind: str, amount: int, **fields: Any) -> dict[str, Any]:
    """A correction of ``event``: dated at the event's time, like its usage rows."""
    return ledger_row(
        event.user_id,
        kind,
        amount,
        event.occurred_at,
        context=event.context,
        endpoint=event.endpoint,
        model=event.model,
        conversation_id=event.conversation_id,
        message_id=event.message_id,
        event_id=event.event_id,
        **fields,
    )


def _apply(
    session: Session, config: AppConfig, rows: Sequence[dict[str, Any]], now: datetime
) -> None:
    """Write correction rows, their rollup deltas and the balance changes (no rows when
    transactions are off: the events alone carry the corrected cost)."""
    if not rows or not config.transactions_enabled:
        return
    ledger.insert_ledger(session, rows)
    rollup_repository.record(session, rows)
    deltas: dict[str, int] = {}
    for row in rows:
        deltas[row["user_id"]] = deltas.get(row["user_id"], 0) + row["amount_micro"]
    balances.charge(session, config, deltas, now)


def void(
    session: Session,
    config: AppConfig,
    event_id: str,
    reason: str,
    now: datetime,
    *,
    key_id: str | None = None,
) -> VoidResult:
    """Reverse an event's current charge in the caller's transaction; idempotent."""
    event = repo.event_for_void(session, event_id)
    if event is None:
        raise NotFound(f"no usage event {event_id!r}")
    lines = current_lines(event.cost_json, event.lines_json)
    if event.voided_at is not None:
        return VoidResult(
            event.event_id,
            event.user_id,
            event.voided_at,
            event.void_reason or "",
            total(lines),
            True,
        )
    rows = [
        _event_row(
            event,
            "void",
            line.micro,
            token_type=token_type,
            tokens=-line.tokens,
            rate=line.rate,
            idempotency_key=f"void:{event.event_id}:{token_type}",
            reason=reason,
        )
        for token_type, line in sorted(lines.items())
        if line.micro or line.tokens
    ]
    repo.mark_voided(session, event.id, now, reason)
    _apply(session, config, rows, now)
    audit.record(
        session,
        action=USAGE_VOID,
        target=f"event:{event.event_id}",
        reason=reason,
        key_id=key_id,
        details={"reversed_micro": total(lines)},
    )
    return VoidResult(event.event_id, event.user_id, now, reason, total(lines), False)
