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
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from billing import metrics, money
from billing.balances.check import CheckResult, check_spend
from billing.balances.check_schemas import SpendEstimateIn
from billing.errors import Conflict, InsufficientBalance, ReservationExpired, ReservationNotFound
from billing.models.reservation import ACTIVE, RELEASED, SETTLED
from billing.reservations import repository as repo
from billing.reservations.repository import ReservationRow
from billing.reservations.types import Settlement, UsageClaim
from billing.runtime import ConfigSnapshot

EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Created:
    reservation: ReservationRow
    check: CheckResult  # balance and holds before this one

    @property
    def available_micro(self) -> int:
        return self.check.available_micro - self.reservation.amount_micro


@dataclass(frozen=True, slots=True)
class View:
    row: ReservationRow
    status: str  # as the client sees it (see status_at)
    settled_micro: int | None  # real cost of the settling event


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
) -> Created:
    """Hold the estimated cost, or refuse with insufficient_balance (402).

    check_spend locks the user's balance row (touch_users) before summing the
    active holds, so concurrent reservations for one user are serialised and
    can never together exceed the balance.
    """
    check = check_spend(session, snapshot, user_id, request, now)
    amount = check.cost.total_micro
    if not check.allowed:
        metrics.record_reservation("denied")  # counted now: the refusal rolls back
        raise InsufficientBalance(
            f"user {user_id!r} has {money.credits_str(check.available_micro)} credits available,"
            f" the estimate is {money.credits_str(amount)}",
            balance=money.credits_str(check.balance_micro),
            reserved_credits=money.credits_str(check.reserved_micro),
            available_credits=money.credits_str(check.available_micro),
            requested_credits=money.credits_str(amount),
        )
    row = ReservationRow(
        id=f"res_{uuid.uuid4().hex}",
        user_id=user_id,
        endpoint=request.endpoint,
        model=request.model,
        amount_micro=amount,
        status=ACTIVE,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
        closed_at=None,
        settled_event_id=None,
    )
    repo.add(session, asdict(row))
    metrics.record_reservation("created", session)
    return Created(row, check)


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
    for claim in claims:
        row = rows.get(claim.reservation_id)
        held: int | None = None
        if row is None:
            outcome = "not_found"
        elif row.user_id != claim.user_id:
            outcome = "user_mismatch"
        else:
            held = row.amount_micro
            state = status_at(row, now)
            if state in (ACTIVE, EXPIRED):
                repo.close(session, row.id, SETTLED, now, claim.event_id)
                row.status, row.closed_at, row.settled_event_id = SETTLED, now, claim.event_id
                outcome = "settled" if state == ACTIVE else "settled_expired"
                metrics.record_reservation("settled", session)
            else:
                outcome = "already_settled" if state == SETTLED else RELEASED
        results[claim.event_id] = Settlement(claim.reservation_id, outcome, held, claim.cost_micro)
    return results
