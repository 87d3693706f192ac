"""Hold, release and record: the gateway's only database work, through the
reservation and usage services (one transaction for the hold; the record goes
through a group committer of its own, which lingers for company, and settles
the hold).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from billing.balances.check_schemas import SpendEstimateIn
from billing.errors import BillingError, ReservationExpired
from billing.gateway.errors import GatewayError
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
    reservation_id: str
    amount_micro: int
    prompt_tokens: int  # the estimate, reused when a stream ends without usage


def _validation_message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}"


async def hold(
    runtime: Runtime,
    snapshot: ConfigSnapshot,
    identity: Identity,
    endpoint: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    dialect: str,
) -> Hold:
    """Reserve the estimate; GatewayError 402 insufficient_balance (or budget_exceeded,
    the user's or role's budget) when it does not fit."""
    try:
        estimate = SpendEstimateIn(
            endpoint=endpoint,
            model=model,
            role=identity.role,  # LibreChat's {{LIBRECHAT_USER_ROLE}}: the role's policy
            tokens={"prompt": prompt_tokens},
            max_completion_tokens=completion_tokens,
        )
    except ValidationError as exc:
        raise GatewayError(400, "invalid_request", _validation_message(exc), dialect) from None
    request = (identity.user_id, estimate, runtime.settings.reservation_ttl_seconds)
    try:
        done = runtime.group_hold.submit(_create_holds, snapshot, request, 1)
        created = await asyncio.wrap_future(done)
    except BillingError as exc:
        raise GatewayError.of(exc, dialect) from None
    return Hold(created.view.row.id, created.view.row.amount_micro, prompt_tokens)


HoldRequest = tuple[str, SpendEstimateIn, int]  # user, estimate, ttl_seconds


def _create_holds(
    session: Session, snapshot: ConfigSnapshot, requests: list[HoldRequest], now: datetime
) -> list[reservations.Created | BillingError]:
    """The holds arriving together, in one transaction, one after the other (a
    user's later hold sees the earlier ones: the no-overspend rule holds within
    a group as between groups). A refused hold is that request's answer alone;
    it wrote nothing but what the full check writes for any check (first sight)."""
    # A hold is no balance change and writes no ledger row: one lost in a crash
    # frees its credit early, nothing else. So its commit need not wait for the
    # log flush (the record's commit flushes it anyway), most of a hold's time on
    # PostgreSQL: runtime.group_hold's connections commit so (billing/db.py).
    results: list[reservations.Created | BillingError] = []
    for user_id, estimate, ttl in requests:
        try:
            results.append(reservations.create(session, snapshot, user_id, estimate, ttl, now))
        except BillingError as exc:
            results.append(exc)
    return results


T = TypeVar("T")


async def in_transaction(runtime: Runtime, work: Callable[..., T], *args: Any) -> T:
    """``work(session, *args)`` in one transaction of its own, off the event loop
    (a hold must commit before the upstream is called; a release needs no group)."""
    return await run_in_threadpool(
        run_transaction, runtime.sessions, lambda session: work(session, *args)
    )


async def release(runtime: Runtime, held: Hold) -> None:
    """Free the hold of a call that charged nothing (an upstream error)."""
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
    """Queue the usage event on the group commit; it settles the hold. Either the
    provider's usage object or, when there is none, ``estimated`` (prompt,
    completion). Needs no await: a call cut short (cancelled) still records.

    Usage the normaliser refuses (odd numbers from a proxy) falls back to the
    estimate rather than lose the charge.
    """
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
    return runtime.group_record.submit(usage.record_requests, snapshot, priced, 1)


async def wait_recorded(done: Future[Any], event_id: str) -> bool:
    """Wait for the record; a failure is logged (the hold then expires unused)."""
    try:
        await asyncio.wrap_future(done)
        return True
    except Exception:
        log.exception("gateway: usage event %s was not recorded", event_id)
        return False
