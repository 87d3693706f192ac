"""The ingest core: the transaction that records usage events exactly once.

Everything ``POST /v1/usage`` writes is written here, inside the caller's
transaction (the worker's group committer, billing/group_commit.py, commits
it), from rows built before it (billing/usage/rows.py), through the
database's writer (billing/dialect). Set-based: a call is a fixed number of
statements whatever its size; no per-event SQL.

**Why exactly once.** ``usage_event.event_id`` is unique, and events go in
with ``INSERT ... ON CONFLICT DO NOTHING RETURNING event_id``: of all the
transactions posting one event_id, exactly one inserts it (one posting the id
while another holds it uncommitted waits for that one to end). An event's
ledger rows, rollup deltas, balance change and reservation settlement are
kept only by the transaction that inserted it; any other answers
``duplicate`` with the stored cost. Within a call the first occurrence of an
id stands for all of them.

**Write order**, one of two, by the number of distinct events
(LEDGER_FIRST_MIN_EVENTS; both exactly once):

- *events first* (small calls, the single-event path): insert the events and,
  for those inserted, their ledger rows and rollup deltas (the writer's
  ``insert_new_with``: on PostgreSQL one statement, the later inserts reading
  the ids the first returned); then read the stored rows of those not
  inserted (content check).
- *ledger first* (large batches): read the stored rows of every id (retries
  of committed events are known without waiting on anyone; content check);
  write the ledger rows of the others; insert the events (the writer's
  ``insert_unseen``: on SQLite, whose one writer holds the lock since the
  read, a plain insert); the rollup deltas of the events kept. A concurrent
  transaction posting one of these ids waits on its unique-index entry until
  this one ends: inserting the events last keeps that wait to the tail.

Rollup deltas are insert only (no row shared between transactions, so no
lock waits). Then, either way: the balances, the reservations.

**Lock order** (no deadlocks). The event insert takes unique-index entries in
event_id order (the writer's ``insert_new`` orders in SQL). Roles sent with
the events are stored next (their user_profile rows locked in user id order,
only when a role changes). Balances are locked in user id order
(billing/balances/service.py ``charge``), after every insert, so concurrent
groups over the same users wait on each other only for the lock-update-commit
tail; budget alerts are claimed under those locks (one unique row per user,
period and alert); the holds the events settle are locked in id order after
the balances. Users this process has seen committed skip the
existence query before the lock (billing/balances/known.py: remembered only
once the transaction commits, forgotten when their row has vanished).

**A race-lost event** (ledger first only): an id not stored when read, but
inserted by another transaction before this one's insert, is skipped by the
insert after its ledger rows were written. Those rows are deleted again by
the writer's ``delete_written_here`` (PostgreSQL: ``xmin = txid_current()``,
the rows this transaction wrote; the winner's rows for the same event stay)
and the event is a duplicate. SQLite has one writer at a time and never races.

**A content conflict**: each event row carries a fingerprint of its content
(rows.CONTENT and the 1-hour share of the cache writes). An event_id repeated
with another fingerprint, within the call or against the stored row, raises
IdempotencyConflict naming the fields that differ (the stored columns are
read only then; rows stored before fingerprints, NULL, are compared by
column). The caller rolls back: nothing of the request lands.

**Assumptions checked**, each a RuntimeError (the transaction rolls back,
nothing is charged twice or lost):

- no SAVEPOINT: rows written inside one carry the subtransaction's id as
  ``xmin``, which the undo of a race-lost event would not find;
- every event not inserted is visible as stored: the insert waited for the
  other transaction's commit, and READ COMMITTED shows its row to the next
  statement (REPEATABLE READ would not);
- the undo deletes exactly the ledger rows written for the race-lost events.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from billing import idempotency
from billing.balances import repository as ledger
from billing.balances import service as balances
from billing.balances.roles import store_roles
from billing.budgets.alerts import emit_after_spend
from billing.config.model import AppConfig
from billing.errors import IdempotencyConflict
from billing.reports import rollup_repository
from billing.reservations.service import settle
from billing.reservations.types import Settlement, UsageClaim
from billing.usage import repository as repo
from billing.usage.rows import (
    CONTENT_COLUMNS,
    CONTENT_FIELDS,
    PricedEvent,
    content,
    ledger_groups,
)
from billing.webhooks import hooks as webhook_hooks

# Distinct events from which a call writes the ledger first (see above). A
# choice between two concurrency behaviours, not a speed threshold: when the
# database's writer switches to COPY is its own business (COPY_MIN_ROWS).
LEDGER_FIRST_MIN_EVENTS = 50

Stored = dict[str, tuple[str, str, bytes | None]]  # event_id -> user, cost_json, fingerprint


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one call recorded, for the outcomes."""

    first: dict[str, PricedEvent]  # each event_id's first occurrence in the call
    inserted: set[str]  # event ids this transaction recorded
    accepted: list[PricedEvent]  # their events, in call order
    stored: Stored  # the events recorded before (duplicates), as stored
    balances: dict[str, int]  # user -> balance after the charge (charged users only)
    settlements: dict[str, Settlement]  # event_id -> what its reservation_id did


def record(
    session: Session, config: AppConfig, priced: Sequence[PricedEvent], now: datetime
) -> Recorded:
    """Record priced events in the caller's transaction (see the module's invariants).

    An event_id already recorded (or repeated here) with other content raises
    IdempotencyConflict: the caller rolls back, nothing of the call lands.
    """
    if session.in_nested_transaction():
        raise RuntimeError(
            "usage recorded inside a SAVEPOINT: the undo of a race-lost event finds this "
            "transaction's rows by its top-level id, which rows written in a SAVEPOINT lack"
        )
    first: dict[str, PricedEvent] = {}
    refused = repeat_conflict(priced, first)
    if refused is not None:
        raise refused
    if len(first) < LEDGER_FIRST_MIN_EVENTS:
        inserted, stored = _write_events_first(session, priced, first)
    else:
        inserted, stored = _write_ledger_first(session, priced, first)
    accepted = [item for event_id, item in first.items() if event_id in inserted]
    charged = _charge(session, config, accepted, now) if accepted else {}
    settlements = _settle_reservations(session, accepted, now)
    # In this transaction: balance.low and pricing.unpriced_model land in the outbox
    # with the charge that caused them (or not at all).
    webhook_hooks.after_charge(session, config, [i.cost for i in accepted], charged, now)
    return Recorded(first, inserted, accepted, stored, charged, settlements)


Written = tuple[set[str], Stored]  # inserted, stored


def _write_events_first(
    session: Session, priced: Sequence[PricedEvent], first: dict[str, PricedEvent]
) -> Written:
    # The events' ledger rows and rollup deltas go with them, kept (in SQL) only for
    # the events inserted: one statement for all three on PostgreSQL.
    ledger_rows, rollups = [], []
    for event_id, item in first.items():
        ledger_rows += item.ledger_rows
        for row in rollup_repository.rollup_rows(item.ledger_rows):
            row["event_id"] = event_id
            rollups.append(row)
    inserted = repo.insert_new_events(
        session, [item.event_row for item in first.values()], ledger_rows, rollups
    )
    stored = _recorded_elsewhere(session, set(first) - inserted)
    _refuse_other_content(session, priced, first, stored)
    return inserted, stored


def _write_ledger_first(
    session: Session, priced: Sequence[PricedEvent], first: dict[str, PricedEvent]
) -> Written:
    # The rollup deltas of every event, summed before the first statement (which
    # takes SQLite's one write lock: ~13 ms a 2,000-event group); those of events
    # not kept (recorded already: a client's retries) are taken out again after.
    rollups = rollup_repository.group_rollup_rows(ledger_groups(first.values()))
    stored = repo.stored_events(session, first)
    _refuse_other_content(session, priced, first, stored)
    unseen = [item for event_id, item in first.items() if event_id not in stored]
    ledger.insert_ledger(session, ledger_groups(unseen))
    inserted = repo.insert_unseen_events(session, [item.event_row for item in unseen])
    raced = {e.event_id: e.user_id for item in unseen if (e := item.event).event_id not in inserted}
    if raced:  # recorded meanwhile by another transaction: take back our rows
        committed = _recorded_elsewhere(session, raced)
        _refuse_other_content(session, priced, first, committed)
        _undo_ledger_rows(session, raced, sum(len(first[id_].ledger_rows) for id_ in raced))
        stored.update(committed)
        unseen = [item for item in unseen if item.event.event_id in inserted]
    if len(unseen) != len(first):
        kept = {item.event.event_id for item in unseen}
        skipped = [item for event_id, item in first.items() if event_id not in kept]
        less = rollup_repository.group_rollup_rows(ledger_groups(skipped))
        rollups = rollup_repository.rollups_less(rollups, less)
    rollup_repository.insert_rollups(session, rollups)  # same transaction: no drift
    return inserted, stored


def _recorded_elsewhere(session: Session, event_ids: Collection[str]) -> Stored:
    """The stored rows of events the insert skipped: every one must be visible."""
    stored = repo.stored_events(session, event_ids)
    if len(stored) != len(event_ids):
        missing = sorted(set(event_ids) - stored.keys())
        raise RuntimeError(
            f"events {missing[:5]} were neither inserted nor visible as recorded: "
            "the ingest transaction must run at READ COMMITTED"
        )
    return stored


def _undo_ledger_rows(session: Session, raced: dict[str, str], written: int) -> None:
    """Delete the ``written`` ledger rows of race-lost events (event_id -> user_id)."""
    if not written:
        return
    undone = ledger.delete_usage_rows_written_here(session, raced)
    if undone != written:
        raise RuntimeError(
            f"undoing {len(raced)} race-lost events deleted {undone} ledger rows, "
            f"not the {written} this transaction wrote for them"
        )


def _charge(
    session: Session, config: AppConfig, accepted: list[PricedEvent], now: datetime
) -> dict[str, int]:
    """Balances for newly accepted events (their ledger rows and rollup deltas are
    written); user -> new balance. The balances are locked last; the roles the
    events carry are stored before (a user first seen with a role gets the role's
    policy), the budget alerts now due are claimed after (under the locks)."""
    roles = {e.user_id: e.role for item in accepted if (e := item.event).role is not None}
    if not config.transactions_enabled:
        if roles:
            store_roles(session, config, roles, now)
        return {}
    deltas: dict[str, int] = {}
    for item in accepted:
        user_id = item.event.user_id
        deltas[user_id] = deltas.get(user_id, 0) - item.cost.total_micro
    # In user id order: the sorts after this one (the lock order, the update's
    # rows, the budget alerts) each find the users sorted, a single pass.
    deltas = {user_id: deltas[user_id] for user_id in sorted(deltas)}
    rows = balances.charge(session, config, deltas, now, roles)
    profiles = {user_id: row.profile for user_id, row in rows.items()}
    emit_after_spend(session, config, deltas, now, profiles)  # budget.threshold / .exceeded
    return {user_id: row.amount_micro for user_id, row in rows.items()}


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
        if earlier is None:
            at = mine.setdefault(event_id, index)
            if at == index:
                continue
            earlier, where = priced[at], f"events[{index}] (repeating events[{at}]): "
        else:
            where = _where(index, len(priced))
        if earlier.fingerprint != item.fingerprint:
            fields = _differing(content(earlier.event_row), item)
            return idempotency.conflict(where, "event_id", event_id, fields)
    for event_id, at in mine.items():
        seen[event_id] = priced[at]
    return None


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
    recorded = repo.stored_content(session, suspects, CONTENT_COLUMNS)
    for index, item in enumerate(priced):
        event_id = item.event.event_id
        if event_id in suspects:
            fingerprinted = stored[event_id][2] is not None
            fields = _differing(recorded[event_id], item, fingerprinted=fingerprinted)
            if fields:
                where = _where(index, len(priced))
                raise idempotency.conflict(where, "event_id", event_id, fields)


def _differing(
    recorded: Sequence[object], item: PricedEvent, *, fingerprinted: bool = True
) -> list[str]:
    """Names of the content fields in which ``item`` differs from ``recorded``
    (stored columns) whose fingerprint differs. Equal columns with a different
    fingerprint leave only the 1-hour share of the cache writes to differ."""
    fields = idempotency.differing(CONTENT_FIELDS, recorded, content(item.event_row))
    if not fields and fingerprinted:
        fields = ["tokens.cache_write_1h"]
    return fields


def _where(index: int, count: int) -> str:
    """How an error names the event: by index in a batch, not at all for one event."""
    return f"events[{index}]: " if count > 1 else ""
