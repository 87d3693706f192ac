"""Hold, release and record: the gateway's only database work, through the
reservation and usage services. Most calls are held against the worker's
credit lease for the user, in memory (billing/gateway/leases.py); the others
take one transaction, which makes or tops up the lease (or holds the call
alone). The record goes through a group committer of its own, which lingers for
company, and settles the hold or draws the real cost from the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from billing.balances.check import estimate_cost
from billing.balances.check_schemas import SpendEstimateIn
from billing.db import flush_this_commit
from billing.errors import BillingError, ReservationExpired, ReservationNotFound
from billing.gateway.errors import GatewayError
from billing.gateway.leases import Lease, LeaseBook, LeaseKey
from billing.gateway.upstream import Identity
from billing.group_commit import run_transaction
from billing.reservations import service as reservations
from billing.runtime import ConfigSnapshot, Runtime
from billing.usage import service as usage
from billing.usage.schemas import UsageEventIn

log = logging.getLogger("billing.gateway")

MESSAGE = "message"
INCOMPLETE = "incomplete"  # a stream the client abandoned (or the upstream broke off)


@dataclass(frozen=True, slots=True)
class Hold:
    reservation_id: str  # the call's own hold, or the lease it is held against
    amount_micro: int
    prompt_tokens: int  # the estimate, reused when a stream ends without usage
    lease: Lease | None = None


def _validation_message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}"


async def hold(
    runtime: Runtime,
    book: LeaseBook | None,
    snapshot: ConfigSnapshot,
    identity: Identity,
    endpoint: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    dialect: str,
) -> Hold:
    """Hold the estimate: against the worker's lease for the user when it has the
    credit free (no I/O), else in one transaction (which leases more, or holds
    this call alone); GatewayError 402 insufficient_balance (or budget_exceeded,
    the user's or role's budget) when it does not fit."""
    try:
        estimate = SpendEstimateIn(
            endpoint=endpoint,
            model=model,
            role=identity.role,  # LibreChat's {{LIBRECHAT_USER_ROLE}}: the role's policy
            tokens={"prompt": prompt_tokens},
            max_completion_tokens=completion_tokens,
        )
        cost_micro = estimate_cost(snapshot.prices, estimate).total_micro if book else 0
    except ValidationError as exc:
        raise GatewayError(400, "invalid_request", _validation_message(exc), dialect) from None
    except BillingError as exc:
        raise GatewayError.of(exc, dialect) from None
    if book is None:
        created = await _hold_in_database(runtime, snapshot, identity, estimate, None, dialect)
        assert isinstance(created, reservations.Created), "no lease was asked for"
        return Hold(created.view.row.id, created.view.row.amount_micro, prompt_tokens)
    key: LeaseKey = (identity.user_id, identity.role)
    while True:
        lease = book.take(key, cost_micro, runtime.clock())
        if lease is not None:
            return Hold(lease.id, cost_micro, prompt_tokens, lease)
        pending = book.pending(key)
        if pending is None:
            break
        await asyncio.shield(pending)  # another call of the user's is topping the lease up
    done = book.topping_up(key)
    try:
        ask = book.ask(key, cost_micro)
        created = await _hold_in_database(runtime, snapshot, identity, estimate, ask, dialect)
    finally:
        book.topped_up(key, done)
    if isinstance(created, reservations.Leased):
        lease = book.granted(key, created)
        return Hold(lease.id, created.cost_micro, prompt_tokens, lease)
    return Hold(created.view.row.id, created.view.row.amount_micro, prompt_tokens)


async def _hold_in_database(
    runtime: Runtime,
    snapshot: ConfigSnapshot,
    identity: Identity,
    estimate: SpendEstimateIn,
    ask: reservations.LeaseAsk | None,
    dialect: str,
) -> reservations.Created | reservations.Leased:
    """One transaction (shared with the holds arriving together): the call's hold,
    or, with ``ask``, a lease made or topped up (or the call's hold, if too little
    credit is free for a lease)."""
    ttl = runtime.settings.reservation_ttl_seconds
    request: HoldRequest = (identity.user_id, estimate, ttl, ask)
    try:
        done = runtime.group_hold.submit(_create_holds, snapshot, request, 1)
        return cast(reservations.Created | reservations.Leased, await asyncio.wrap_future(done))
    except BillingError as exc:
        raise GatewayError.of(exc, dialect) from None


HoldRequest = tuple[str, SpendEstimateIn, int, reservations.LeaseAsk | None]
# user, estimate, ttl_seconds, the lease to top up (None: hold the call alone)


def _create_holds(
    session: Session, snapshot: ConfigSnapshot, requests: list[HoldRequest], now: datetime
) -> list[reservations.Created | reservations.Leased | BillingError]:
    """The holds arriving together, in one transaction, one after the other (a
    user's later hold sees the earlier ones: the no-overspend rule holds within
    a group as between groups). A refused hold is that request's answer alone;
    it wrote nothing but what the full check writes for any check (first sight)."""
    # A hold is no balance change and writes no ledger row: one lost in a crash
    # frees its credit early, nothing else. So its commit need not wait for the
    # log flush (the record's commit flushes it anyway), most of a hold's time on
    # PostgreSQL: runtime.group_hold's connections commit so (billing/db.py). A
    # lease is different: calls are held against it with no database in between,
    # so a lease lost in a crash could let them overspend; its commit is flushed.
    results: list[reservations.Created | reservations.Leased | BillingError] = []
    for user_id, estimate, ttl, ask in requests:
        try:
            if ask is None:
                results.append(reservations.create(session, snapshot, user_id, estimate, ttl, now))
            else:
                results.append(
                    reservations.hold_or_lease(session, snapshot, user_id, estimate, ttl, now, ask)
                )
        except BillingError as exc:
            results.append(exc)
    if any(isinstance(result, reservations.Leased) for result in results):
        flush_this_commit(session)
    return results


T = TypeVar("T")


async def in_transaction(runtime: Runtime, work: Callable[..., T], *args: Any) -> T:
    """``work(session, *args)`` in one transaction of its own, off the event loop
    (a hold must commit before the upstream is called; a release needs no group)."""
    return await run_in_threadpool(
        run_transaction, runtime.sessions, lambda session: work(session, *args)
    )


async def release(runtime: Runtime, held: Hold) -> None:
    """Free the hold of a call that charged nothing (an upstream error): its
    estimate goes back to its lease, or its own hold is released."""
    if held.lease is not None:
        LeaseBook.give_back(held.lease, held.amount_micro, 0)
        return
    try:
        await in_transaction(runtime, reservations.release, held.reservation_id, runtime.clock())
    except ReservationExpired:
        pass  # it holds nothing any more
    except Exception:
        # The hold expires by itself (reservation_ttl_seconds); the call is answered anyway.
        log.exception("gateway: could not release %s", held.reservation_id)


def new_event_id() -> str:
    return f"gw_{secrets.token_hex(16)}"


def submit_record(
    runtime: Runtime,
    snapshot: ConfigSnapshot,
    *,
    event_id: str,
    identity: Identity,
    endpoint: str,
    model: str,
    held: Hold,
    context: str,
    usage_format: str,
    provider_usage: dict[str, Any] | None,
    estimated: tuple[int, int] | None,
) -> Future[Any]:
    """Queue the usage event on the group commit; it settles the hold (or draws
    from the lease, which gets the estimate back less the real cost). Either the
    provider's usage object or, when there is none, ``estimated`` (prompt,
    completion). Needs no await: a call cut short (cancelled) still records.

    Usage the normaliser refuses (odd numbers from a proxy) falls back to the
    estimate rather than lose the charge.
    """
    lease = held.lease
    try:
        fields: dict[str, Any] = {
            "event_id": event_id,
            "user_id": identity.user_id,
            "endpoint": endpoint,
            "model": model,
            "context": context,
            "conversation_id": identity.conversation_id,
            "message_id": identity.message_id,
            "reservation_id": held.reservation_id,
            "role": identity.role,
        }
        now = runtime.clock()
        priced = None
        if provider_usage is not None:
            try:
                event = UsageEventIn.model_validate(
                    {**fields, "provider_usage": {"format": usage_format, "usage": provider_usage}}
                )
                priced = usage.prepare_events(snapshot, [event], now, batch=False)
            except (ValidationError, BillingError) as exc:
                log.warning("gateway: %s usage refused (%s); recording the estimate", event_id, exc)
                estimated = estimated or (held.prompt_tokens, 0)
        if priced is None:
            prompt, completion = estimated or (held.prompt_tokens, 0)
            event = UsageEventIn.model_validate(
                {**fields, "tokens": {"prompt": prompt, "completion": completion}}
            )
            priced = usage.prepare_events(snapshot, [event], now, batch=False)
        done = runtime.group_record.submit(usage.record_requests, snapshot, priced, 1)
    except BaseException:
        if lease is not None:  # nothing drawn: the lease keeps the estimate as spent
            LeaseBook.give_back(lease, held.amount_micro, held.amount_micro)
        raise
    if lease is not None:
        LeaseBook.give_back(lease, held.amount_micro, priced[0].cost.total_micro)
    return done


DRAWN = ("drawn", "drawn_expired")


async def wait_recorded(done: Future[Any], event_id: str, held: Hold) -> bool:
    """Wait for the record; a failure is logged (the hold then expires unused).
    A lease the record could not draw from (released, or lost) is dropped: the
    worker's next call for the user asks the database again."""
    try:
        outcomes = await asyncio.wrap_future(done)
    except Exception:
        log.exception("gateway: usage event %s was not recorded", event_id)
        return False
    if held.lease is not None:
        settled = outcomes[0].reservation
        if settled is not None and settled.outcome not in DRAWN:
            held.lease.closed = True
    return True


async def keep_leases(runtime: Runtime, book: LeaseBook) -> None:
    """Give back the worker's leases left unused for the book's idle time, until cancelled."""
    while True:
        await asyncio.sleep(max(book.idle_seconds / 4, 0.05))
        idle = book.idle(time.monotonic() - book.idle_seconds)
        if idle:
            await give_back_leases(runtime, idle)


async def give_back_leases(runtime: Runtime, leases: list[Lease]) -> None:
    """Release leases (no call runs against them) in one transaction: their credit
    is free for every worker again. One that cannot be released expires by itself."""
    try:
        ids = [lease.id for lease in leases]
        await in_transaction(runtime, _release_leases, ids, runtime.clock())
    except Exception:
        log.exception("gateway: could not give back %d leases", len(leases))


def _release_leases(session: Session, lease_ids: list[str], now: datetime) -> None:
    for lease_id in lease_ids:
        with contextlib.suppress(ReservationExpired, ReservationNotFound):
            reservations.release(session, lease_id, now)  # else it holds nothing any more
