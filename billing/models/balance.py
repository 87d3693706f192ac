from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from billing.models.base import Base, UTCDateTime


class Balance(Base):
    """Per-user balance; always equal to the sum of the user's ledger rows."""

    __tablename__ = "balance"

    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    amount_micro: Mapped[int] = mapped_column(BigInteger)
    auto_refill_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    refill_interval_value: Mapped[int] = mapped_column(Integer, default=30)
    refill_interval_unit: Mapped[str] = mapped_column(String(10), default="days")
    refill_amount_micro: Mapped[int] = mapped_column(BigInteger, default=0)
    last_refill_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
