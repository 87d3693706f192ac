from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing.models.base import Base, UTCDateTime

# Stored statuses (a client also sees "expired": active past expires_at). Here, by
# the table, because balances (holds count against them) and reservations both use them.
ACTIVE, SETTLED, RELEASED = "active", "settled", "released"
EXPIRED = "expired"  # not stored: an active hold past expires_at
# Kinds: a hold is one call's estimate, settled (closed) by the event naming it; a
# lease is credit a gateway worker sets aside for a user's coming calls, which the
# events naming it draw from and which stays active until released or expired.
HOLD, LEASE = "hold", "lease"


class Reservation(Base):
    """A hold of estimated cost before a model call (status active/settled/released).

    An active hold counts against available credit only until ``expires_at``;
    no background job is needed for correctness.
    """

    __tablename__ = "reservation"
    __table_args__ = (Index("ix_reservation_user_id_status", "user_id", "status"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200))
    endpoint: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    amount_micro: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    settled_event_id: Mapped[str | None] = mapped_column(String(200))
    # The client's optional key: a retry returns this hold instead of a second one.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # With a key: the request's canonical JSON (to tell a retry from a reused
    # key) and the estimate's cost object as answered (a retry gets the same).
    request_json: Mapped[str | None] = mapped_column(Text)
    cost_json: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20), default=HOLD, server_default=HOLD)
