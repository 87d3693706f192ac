"""Webhook tables: subscribed endpoints, the outbox of events, their deliveries,
and the state that makes balance.low and pricing.unpriced_model fire once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing.models.base import Base, BigIntPK, UTCDateTime

# Delivery statuses.
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoint"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # wh_...
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[str] = mapped_column(Text)  # JSON list of event types
    secret: Mapped[str] = mapped_column(String(100))  # whsec_...: signs every delivery
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookEvent(Base):
    """The outbox: one row per event, written in the transaction that caused it."""

    __tablename__ = "webhook_event"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)  # the webhook-id header
    type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)  # the exact JSON sent (and signed)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event to one endpoint, with its attempts; due when pending and next_attempt_at passed."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_endpoint_id_id", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("webhook_event.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("webhook_endpoint.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Pending: when the next attempt is due (a claimed delivery's lease ends then too).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    give_up_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookBalanceLow(Base):
    """A user whose balance.low fired; the row goes when the balance rises back (re-armed)."""

    __tablename__ = "webhook_balance_low"

    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookUnpricedModel(Base):
    """An endpoint/model seen priced at the fallback rate (pricing.unpriced_model fired once)."""

    __tablename__ = "webhook_unpriced_model"

    endpoint: Mapped[str] = mapped_column(String(200), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
