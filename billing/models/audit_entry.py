from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing.models.base import Base, BigIntPK, UTCDateTime


class AuditEntry(Base):
    """One admin action: when, what, on what, why, and which API key (by id) did it."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_action_id", "action", "id"),
        Index("ix_audit_entry_target_id", "target", "id"),
        Index("ix_audit_entry_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str | None] = mapped_column(String(500))
    key_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text)  # a JSON object
