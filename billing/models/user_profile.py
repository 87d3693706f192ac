from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from billing.models.base import Base, UTCDateTime


class UserProfile(Base):
    """A user's role and own spend limit (both optional).

    The budget columns are all set or all NULL; a NULL budget falls back to
    the role's default budget from the config's ``billing:`` section.
    """

    __tablename__ = "user_profile"

    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    role: Mapped[str | None] = mapped_column(String(100))
    budget_limit_micro: Mapped[int | None] = mapped_column(BigInteger)
    budget_period: Mapped[str | None] = mapped_column(String(10))  # day | week | month
    budget_tz: Mapped[str | None] = mapped_column(String(64))  # IANA name
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
