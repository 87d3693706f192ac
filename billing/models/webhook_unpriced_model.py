from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from billing.models.base import Base, UTCDateTime


class WebhookUnpricedModel(Base):
    """An endpoint/model seen priced at the fallback rate (pricing.unpriced_model fired once)."""

    __tablename__ = "webhook_unpriced_model"

    endpoint: Mapped[str] = mapped_column(String(200), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
