from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billing.models.base import Base, BigIntPK, UTCDateTime


class BudgetAlert(Base):
    """A budget event already emitted: each (user, period, alert) fires once.

    ``alert`` is ``threshold:<fraction>`` (e.g. ``threshold:0.8``) or ``exceeded``;
    ``period_start`` is the UTC start of the budget period it belongs to.
    """

    __tablename__ = "budget_alert"
    __table_args__ = (UniqueConstraint("user_id", "period_start", "alert"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(200))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    alert: Mapped[str] = mapped_column(String(40))
    spent_micro: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
