from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing.models.base import Base, BigIntPK, UTCDateTime


class PriceBookVersion(Base):
    """One set of effective rates the service priced with (billing/pricebooks)."""

    __tablename__ = "price_book"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # pricing/version.py price_book_hash: what usage_event.price_book holds.
    content_hash: Mapped[str] = mapped_column(String(64))
    rates_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
