from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from billing.models.base import Base, UTCDateTime


class WebhookBalanceLow(Base):
    """A user whose balance.low fired; the row goes when the balance rises back (re-armed)."""

    __tablename__ = "webhook_balance_low"

    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime())
