"""Reservation rules: hold the estimate atomically, settle, release, expire.

A hold counts against available credit (balance - active unexpired holds)
until it is settled, released or reaches ``expires_at``; expiry is decided by
comparing with ``now`` in the query, so no background job is needed. Holds
are not balance changes and write no ledger rows; only the settling usage
event charges the ledger (its real cost, whatever the estimate was).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from billing import idempotency, metrics, money
from billing.balances import repository as balance_repo
from billing.balances.check import check_holding
from billing.balances.check_schemas import SpendEstimateIn, credit_fields
from billing.balances.types import CheckResult
from billing.budgets.view import budget_json, utc_text
from billing.errors import (
    BudgetExceeded,
    Conflict,
    InsufficientBalance,
    ReservationExpired,
    ReservationNotFound,
)
from billing.models.reservation import ACTIVE, EXPIRED, HOLD, LEASE, RELEASED, SETTLED
from billing.reservations import repository as repo
from billing.reservations.repository import ReservationRow
from billing.reservations.types import Settlement, UsageClaim
from billing.runtime import ConfigSnapshot


@dataclass(frozen=True, slots=True)
class View:
    row: ReservationRow
    status: str  # as the client sees it (see status_at)
    settled_micro: int | None  # real cost of the settling event


@dataclass(frozen=True, slots=True)
class Created:
    view: View
    balance_micro: int
    available_micro: int  # balance minus active holds, this one included
    cost: dict[str, Any]  # the estimate held (the cost object)
    replayed: bool = False  # a retry with the hold's idempotency_key: nothing new held


def status_at(row: ReservationRow, now: datetime) -> str:
    """The status a client sees: an active hold past expires_at is ``expired``."""
    if row.status == ACTIVE and row.expires_at <= now:
        return EXPIRED
    return row.status


def create(
    session: Session,
    snapshot: ConfigSnapshot,
    user_id: str,
    request: SpendEstimateIn,
    ttl_seconds: int,
    now: datetime,
    idempotency_key: str | None = None,
) -> Created:
    """Hold the estimated cost, or refuse with insufficient_balance (402).

    check_holding locks the user's balance row before summing the active holds,
    so concurrent reservations for one user are serialised and can never
    together exceed the balance.

    With ``idempotency_key``, a key already used returns that hold as it is
    now (``replayed``) when the request is the same, and is refused with
    idempotency_conflict (409) otherwise. Looked up after the lock, so a retry
    racing its original finds it instead of holding a second time.
    """
    check = check_holding(session, snapshot, user_id, request, now)
    content = _keyed_content(user_id, request, ttl_seconds)
    if idempotency_key is not None:
        earlier = _earlier(session, idempotency_key, content, now)
        if earlier is not None:
            return earlier
    _refuse_unless_allowed(check)
    amount = check.cost.total_micro
    row = _new_row(user_id, request.endpoint, request.model, amount, ttl_seconds, now)
    row.idempotency_key = idempotency_key
    cost = check.cost.to_json()
    if idempotency_key is None:
        repo.add(session, row.values())
    else:
        cost_json = orjson.dumps(cost).decode()
        keyed = {**row.values(), "request_json": _canonical(content), "cost_json": cost_json}
        if not repo.add_once(session, keyed):
            # Another request with this key committed while this one ran (on
            # another user's lock, or none when balances are off).
            earlier = _earlier(session, idempotency_key, content, now)
            assert earlier is not None, "the key's hold was committed before our insert"
            return earlier
    return _created(session, check, row, cost)


def _created(
    session: Session, check: CheckResult, row: ReservationRow, cost: dict[str, Any]
) -> Created:
    """The hold ``row``, inserted after ``check``: counted, with what is left available."""
    metrics.record_reservation("created", session)
    available = check.available_micro - row.amount_micro
    return Created(View(row, ACTIVE, None), check.balance_micro, available, cost)


def _refuse_unless_allowed(check: CheckResult) -> None:
    """Raise the refusal of a check that does not allow the estimate (402)."""
    if check.allowed:
        return
    metrics.record_reservation("denied")  # counted now: the refusal rolls back
    if check.balance_allowed:
        raise _over_budget(check)
    amount = check.cost.total_micro
    raise InsufficientBalance(
        f"user {check.user_id!r} has {money.credits_str(check.available_micro)} credits"
        f" available, the estimate is {money.credits_str(amount)}",
        **credit_fields(check),
        requested_credits=money.credits_str(amount),
    )


def _new_row(
    user_id: str,
    endpoint: str,
    model: str,
    amount_micro: int,
    ttl_seconds: int,
    now: datetime,
    kind: str = HOLD,
) -> ReservationRow:
    return ReservationRow(
        id=f"{'lse' if kind == LEASE else 'res'}_{uuid.uuid4().hex}",
        user_id=user_id,
        endpoint=endpoint,
        model=model,
        amount_micro=amount_micro,
        status=ACTIVE,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
        closed_at=None,
        settled_event_id=None,
        kind=kind,
    )


@dataclass(frozen=True, slots=True)
class LeaseAsk:
    """What a gateway worker asks for besides the call's own estimate."""

    lease_id: str | None  # the worker's lease for the user, topped up while it still holds
    want_micro: int  # credit to add to it (several calls' estimates)
    share: int  # a lease takes at most 1/share of the user's free credit
    ttl_seconds: int  # the lease's lifetime from now (made or topped up)


@dataclass(frozen=True, slots=True)
class Leased:
    """Credit added to a lease (a new one, or ``LeaseAsk.lease_id`` topped up)."""

    lease_id: str
    added_micro: int
    expires_at: datetime
    cost_micro: int  # the call's estimate, which the worker holds against the lease


def hold_or_lease(
    session: Session,
    snapshot: ConfigSnapshot,
    user_id: str,
    request: SpendEstimateIn,
    ttl_seconds: int,
    now: datetime,
    ask: LeaseAsk,
) -> Created | Leased:
    """The gateway's hold: credit for this call and the user's next calls on this
    worker (a lease, itself a hold, so no host can spend it twice), or this call's
    hold alone when a lease's share of what the user has free would not cover it.

    Refused exactly as ``create`` is: the check is the same, for this call's
    estimate. A lease is limited by the user's free credit and, with a budget, by
    what the budget has left (spent + held + lease <= limit).
    """
    check = check_holding(session, snapshot, user_id, request, now)
    _refuse_unless_allowed(check)
    cost = check.cost.total_micro
    room = check.available_micro
    if check.budget is not None:
        state = check.budget
        room = min(room, state.budget.limit_micro - state.spent_micro - check.reserved_micro)
    grant = min(ask.want_micro, room // ask.share)
    if grant < cost:
        row = _new_row(user_id, request.endpoint, request.model, cost, ttl_seconds, now)
        repo.add(session, row.values())
        return _created(session, check, row, check.cost.to_json())
    expires_at = now + timedelta(seconds=ask.ttl_seconds)
    metrics.record_reservation("leased", session)
    if ask.lease_id is not None and repo.top_up(
        session, ask.lease_id, user_id, grant, expires_at, now
    ):
        return Leased(ask.lease_id, grant, expires_at, cost)
    row = _new_row(user_id, "*", "*", grant, ask.ttl_seconds, now, LEASE)
    repo.add(session, row.values())
    return Leased(row.id, grant, expires_at, cost)


def _over_budget(check: CheckResult) -> BudgetExceeded:
    current = check.budget
    assert current is not None, "only a budget refuses what the balance allows"
    return BudgetExceeded(
        f"user {check.user_id!r} has spent {money.credits_str(current.spent_micro)} of a budget"
        f" of {money.credits_str(current.budget.limit_micro)} credits per"
        f" {current.budget.period}, with {money.credits_str(check.reserved_micro)} held; the"
        " estimate is"
        f" {money.credits_str(check.cost.total_micro)}; the budget resets at"
        f" {utc_text(current.resets_at)}",
        budget=budget_json(current),
        reserved_credits=money.credits_str(check.reserved_micro),
        requested_credits=money.credits_str(check.cost.total_micro),
        resets_at=utc_text(current.resets_at),
    )


def _keyed_content(user_id: str, request: SpendEstimateIn, ttl_seconds: int) -> dict[str, Any]:
    """What a retry must repeat (field name -> value) to get the same hold."""
    tokens = request.tokens.to_counts()
    return {
        "user_id": user_id,
        "endpoint": request.endpoint,
        "model": request.model,
        "tokens.prompt": tokens.prompt,
        "tokens.completion": tokens.completion,
        "tokens.cache_write": tokens.cache_write,
        "tokens.cache_read": tokens.cache_read,
        "max_completion_tokens": request.max_completion_tokens,
        "ttl_seconds": ttl_seconds,
    }


def _canonical(content: dict[str, Any]) -> str:
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS).decode()


def _earlier(
    session: Session, idempotency_key: str, content: dict[str, Any], now: datetime
) -> Created | None:
    """The hold created earlier with this key (if the request is the same), as it is now."""
    found = repo.by_key(session, idempotency_key)
    if found is None:
        return None
    stored = orjson.loads(found.request_json)
    names = tuple(content)
    fields = idempotency.differing(
        names, [stored.get(name) for name in names], [content[name] for name in names]
    )
    if fields:
        raise idempotency.conflict("", "idempotency_key", idempotency_key, fields)
    row = found.row
    balance_micro, held_micro = 0, 0
    seen = balance_repo.balances_and_holds(session, [row.user_id], now).get(row.user_id)
    if seen is not None:
        balance_micro, held_micro = seen[0].amount_micro, seen[1]
    return Created(
        _view(session, row, now),
        balance_micro,
        balance_micro - held_micro,
        orjson.loads(found.cost_json),
        replayed=True,
    )


def _view(session: Session, row: ReservationRow, now: datetime) -> View:
    settled = None
    if row.settled_event_id is not None:
        settled = repo.event_total_micro(session, row.settled_event_id)
    return View(row, status_at(row, now), settled)


def get(session: Session, reservation_id: str, now: datetime) -> View:
    row = repo.get(session, reservation_id)
    if row is None:
        raise ReservationNotFound(f"no reservation {reservation_id!r}")
    return _view(session, row, now)


def list_views(
    session: Session,
    *,
    user_id: str | None,
    status: str | None,
    now: datetime,
    after: str | None,
    limit: int,
) -> list[View]:
    """A page of holds (filters as in repository.list_rows), with settled costs."""
    rows = repo.list_rows(
        session, user_id=user_id, status=status, now=now, after=after, limit=limit
    )
    settled = repo.event_totals_micro(
        session, (row.settled_event_id for row in rows if row.settled_event_id)
    )
    return [View(row, status_at(row, now), settled.get(row.settled_event_id or "")) for row in rows]


def release(session: Session, reservation_id: str, now: datetime) -> View:
    """Free an unused hold. Idempotent: releasing a released hold answers its state.

    A settled hold was consumed by usage (409 conflict); an expired one
    already holds nothing (409 reservation_expired). Both bodies carry reservation_status.
    """
    row = repo.lock(session, [reservation_id]).get(reservation_id)
    if row is None:
        raise ReservationNotFound(f"no reservation {reservation_id!r}")
    state = status_at(row, now)
    if state == ACTIVE:
        repo.close(session, row.id, RELEASED, now)
        row.status, row.closed_at = RELEASED, now
        metrics.record_reservation("released", session)
    elif state == SETTLED:
        raise Conflict(
            f"reservation {reservation_id!r} was settled by event {row.settled_event_id!r}",
            reservation_id=row.id,
            reservation_status=state,
        )
    elif state == EXPIRED:
        metrics.record_reservation("expired")
        raise ReservationExpired(
            f"reservation {reservation_id!r} expired at {row.expires_at.isoformat()}"
            " and no longer holds credit",
            reservation_id=row.id,
            reservation_status=state,
        )
    return _view(session, row, now)


def settle(session: Session, claims: Sequence[UsageClaim], now: datetime) -> dict[str, Settlement]:
    """Close the holds named by newly accepted events; event_id -> what happened.

    Usage is never refused here: the event is already recorded and charged at
    its real cost. An active hold (even expired) is closed as settled by the
    first event naming it; anything else is reported and left unchanged.
    """
    rows = repo.lock(session, (claim.reservation_id for claim in claims))
    results = {}
    closed: list[dict[str, Any]] = []
    drawn: dict[str, int] = {}  # lease id -> its amount after this group's draws
    for claim in claims:
        row = rows.get(claim.reservation_id)
        held: int | None = None
        if row is None:
            outcome = "not_found"
        elif row.user_id != claim.user_id:
            outcome = "user_mismatch"
        elif row.kind == LEASE:
            held = row.amount_micro
            outcome = _draw(row, claim.cost_micro, now)
            if row.status == ACTIVE:
                drawn[row.id] = row.amount_micro
        else:
            held = row.amount_micro
            state = status_at(row, now)
            if state in (ACTIVE, EXPIRED):  # stored active, and locked: closed below
                closed.append(
                    {
                        "id": row.id,
                        "status": SETTLED,
                        "closed_at": now,
                        "settled_event_id": claim.event_id,
                    }
                )
                row.status, row.closed_at, row.settled_event_id = SETTLED, now, claim.event_id
                outcome = "settled" if state == ACTIVE else "settled_expired"
                metrics.record_reservation("settled", session)
            else:
                outcome = "already_settled" if state == SETTLED else RELEASED
        results[claim.event_id] = Settlement(claim.reservation_id, outcome, held, claim.cost_micro)
    repo.close_locked(session, closed)
    if drawn:
        repo.set_amounts(session, [{"id": id_, "amount_micro": a} for id_, a in drawn.items()])
    return results


def _draw(lease: ReservationRow, cost_micro: int, now: datetime) -> str:
    """Take an event's real cost from a (locked) lease; it stays active. A lease
    holds no less than nothing: a cost above what is left is charged all the same,
    as a hold's real cost above its estimate is."""
    if lease.status != ACTIVE:
        return RELEASED  # released (or closed otherwise): it holds nothing to draw from
    lease.amount_micro = max(lease.amount_micro - cost_micro, 0)
    return "drawn" if lease.expires_at > now else "drawn_expired"
