from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing.models.base import Base, UTCDateTime


class WebhookEndpoint(Base):
    """A receiver of events: its URL, the event types it takes, its signing secret."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # wh_...
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[str] = mapped_column(Text)  # JSON list of event types
    secret: Mapped[str] = mapped_column(String(100))  # whsec_...: signs every delivery
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
