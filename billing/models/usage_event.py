from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing.models.base import Base, BigIntPK, UTCDateTime


class UsageEvent(Base):
    """One accepted usage event; ``event_id`` is the client's idempotency key."""

    __tablename__ = "usage_event"
    # A user's spend in a budget period is a range scan of this index.
    __table_args__ = (Index("ix_usage_event_user_id_occurred_at", "user_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    user_id: Mapped[str] = mapped_column(String(200))
    endpoint: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    context: Mapped[str] = mapped_column(String(100))
    conversation_id: Mapped[str | None] = mapped_column(String(200))
    message_id: Mapped[str | None] = mapped_column(String(200))
    reservation_id: Mapped[str | None] = mapped_column(String(64))
    prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    completion_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger)
    value_key: Mapped[str | None] = mapped_column(String(200))
    priced_by: Mapped[str] = mapped_column(String(20))
    total_micro: Mapped[int] = mapped_column(BigInteger)
    # The cost object as answered, so a duplicate gets the very same answer.
    cost_json: Mapped[str] = mapped_column(Text)
    # blake2b of the billing-relevant content (billing/usage/rows.py CONTENT):
    # a repeated event_id is a duplicate only with the same content. NULL for
    # events recorded before migration 0004 (their columns are compared instead).
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The price book (content hash) the event is currently priced with.
    price_book: Mapped[str | None] = mapped_column(String(64))
    # The current cost lines once a reprice changed them (billing/reprice/lines.py);
    # NULL: cost_json's lines (the original charge) are current.
    lines_json: Mapped[str | None] = mapped_column(Text)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    void_reason: Mapped[str | None] = mapped_column(String(500))
