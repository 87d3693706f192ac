"""Queries over webhook endpoints and deliveries (the only place that builds them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from billing.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from billing.models.webhook_delivery import DELIVERED, FAILED, PENDING
from billing.webhooks.types import DeliveryView


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a dispatcher holds until its lease ends (attempts: the claim's number)."""

    id: int
    attempts: int
    give_up_at: datetime
    url: str
    secret: str
    message_id: str
    event_type: str
    body: str


@dataclass(frozen=True, slots=True)
class Backlog:
    pending: int
    oldest_created_at: datetime | None
    next_due_at: datetime | None


def add_endpoint(session: Session, row: dict[str, Any]) -> None:
    session.add(WebhookEndpoint(**row))


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.created_at)))


def get_endpoint(session: Session, endpoint_id: str) -> WebhookEndpoint | None:
    return session.get(WebhookEndpoint, endpoint_id)


def delete_endpoint(session: Session, endpoint_id: str) -> bool:
    """Remove the endpoint and its deliveries (pending ones are never sent)."""
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
    result = session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


_VIEW_COLUMNS = (
    WebhookDelivery.id,
    WebhookDelivery.endpoint_id,
    WebhookEvent.message_id,
    WebhookEvent.type,
    WebhookDelivery.status,
    WebhookDelivery.attempts,
    WebhookDelivery.next_attempt_at,
    WebhookDelivery.last_attempt_at,
    WebhookDelivery.last_status_code,
    WebhookDelivery.last_error,
    WebhookDelivery.delivered_at,
    WebhookDelivery.created_at,
)


def _views() -> Any:
    return select(*_VIEW_COLUMNS).join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)


def list_deliveries(
    session: Session, endpoint_id: str, *, status: str | None, before: int | None, limit: int
) -> list[DeliveryView]:
    """Newest first, keyset-paged by id."""
    stmt = (
        _views()
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if before is not None:
        stmt = stmt.where(WebhookDelivery.id < before)
    return [DeliveryView(*row) for row in session.execute(stmt)]


def get_delivery(session: Session, endpoint_id: str, delivery_id: int) -> DeliveryView | None:
    row = session.execute(
        _views().where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id
        )
    ).first()
    return DeliveryView(*row) if row else None


def schedule_now(session: Session, delivery_id: int, now: datetime, give_up_at: datetime) -> None:
    """Manual redelivery: pending again, due now, with a fresh retry window."""
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(status=PENDING, next_attempt_at=now, give_up_at=give_up_at)
    )


# --- the dispatcher ---------------------------------------------------------------------


def backlog(session: Session) -> Backlog:
    pending, oldest, due = session.execute(
        select(
            func.count(),
            func.min(WebhookDelivery.created_at),
            func.min(WebhookDelivery.next_attempt_at),
        ).where(WebhookDelivery.status == PENDING)
    ).one()
    return Backlog(int(pending), oldest, due)  # min() keeps the UTC column type


def claim_due(session: Session, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
    """Take up to ``limit`` due deliveries: each counts an attempt and is not due again
    before ``lease_until``, so no other dispatcher takes it meanwhile. Rows another
    dispatcher is claiming right now are skipped (SKIP LOCKED; SQLite has one writer)."""
    due = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    taken = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(due.scalar_subquery()))
        .values(
            attempts=WebhookDelivery.attempts + 1,
            next_attempt_at=lease_until,
            last_attempt_at=now,
        )
        .returning(WebhookDelivery.id)
    ).all()
    ids = [row[0] for row in taken]
    if not ids:
        return []
    rows = session.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.attempts,
            WebhookDelivery.give_up_at,
            WebhookEndpoint.url,
            WebhookEndpoint.secret,
            WebhookEvent.message_id,
            WebhookEvent.type,
            WebhookEvent.body,
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id.in_(ids))
        .order_by(WebhookDelivery.id)
    )
    return [Claimed(*row) for row in rows]


def record_attempt(
    session: Session,
    claimed: Claimed,
    *,
    delivered: bool,
    status_code: int | None,
    error: str | None,
    now: datetime,
    retry_at: datetime | None,
) -> bool:
    """The outcome of one claimed attempt; False when the claim was lost (its lease
    ended and another dispatcher took the delivery, or the endpoint was deleted)."""
    if delivered:
        values: dict[str, Any] = {"status": DELIVERED, "delivered_at": now, "next_attempt_at": None}
    elif retry_at is None:
        values = {"status": FAILED, "next_attempt_at": None}
    else:
        values = {"next_attempt_at": retry_at}
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == claimed.id,
            WebhookDelivery.attempts == claimed.attempts,
            WebhookDelivery.status == PENDING,
        )
        .values(last_status_code=status_code, last_error=error, **values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
