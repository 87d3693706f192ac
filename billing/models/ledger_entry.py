from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billing.models.base import Base, BigIntPK, UTCDateTime

# kind: why the row exists.
LEDGER_KINDS = (
    "usage",  # a priced token line of a usage event
    "start_balance",  # first sight of a user (balance.startBalance)
    "refill",  # auto-refill, one per elapsed interval
    "grant",  # admin credit (positive) or adjustment (negative)
    "set",  # admin set-balance, recorded as the difference
    "import",  # imported LibreChat transaction
    "opening",  # import: difference to LibreChat's tokenCredits
    "reprice",  # a reprice run's correction of one token line of an event
    "void",  # the reversal of one token line of a voided event
)


class LedgerEntry(Base):
    """A signed balance change in micro-credits (debits negative, grants positive).

    Usage rows record the rate and matched key used, so history never changes
    when the config does.
    """

    __tablename__ = "ledger_entry"
    __table_args__ = (
        Index("ix_ledger_entry_user_id_id", "user_id", "id"),
        Index("ix_ledger_entry_conversation_id", "conversation_id"),
        Index("ix_ledger_entry_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    amount_micro: Mapped[int] = mapped_column(BigInteger)
    token_type: Mapped[str | None] = mapped_column(String(20))
    tokens: Mapped[int | None] = mapped_column(BigInteger)
    rate: Mapped[str | None] = mapped_column(String(64))  # exact decimal text
    value_key: Mapped[str | None] = mapped_column(String(200))
    priced_by: Mapped[str | None] = mapped_column(String(20))
    context: Mapped[str | None] = mapped_column(String(100))
    endpoint: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    conversation_id: Mapped[str | None] = mapped_column(String(200))
    message_id: Mapped[str | None] = mapped_column(String(200))
    event_id: Mapped[str | None] = mapped_column(String(200))
    # Unique handle for non-usage rows (grant keys, refill periods, imports).
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    reason: Mapped[str | None] = mapped_column(String(500))
    run_id: Mapped[str | None] = mapped_column(String(64))  # the reprice run of a reprice row
    old_rate: Mapped[str | None] = mapped_column(String(64))  # the rate a reprice row replaced
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
