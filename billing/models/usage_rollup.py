from __future__ import annotations

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billing.models.base import Base, BigIntPK

SLOT_SECONDS = 900  # 15 minutes: every modern UTC offset and DST change is a multiple


class UsageRollup(Base):
    """Usage spend summed per 15-minute UTC slot, endpoint, model and context.

    Slots are integers so report buckets are integer arithmetic on both backends.

    Append-only deltas: each ingest transaction inserts its own rows (no
    upsert, so concurrent writers never wait on each other) and readers sum
    them. ``billing rebuild-rollups`` recomputes a range from the ledger,
    which also merges the deltas. Costs are positive micro-credits.
    """

    __tablename__ = "usage_rollup"
    __table_args__ = (Index("ix_usage_rollup_slot", "slot"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # 15-minute slot number: whole seconds since 1970-01-01 UTC // SLOT_SECONDS.
    slot: Mapped[int] = mapped_column(BigInteger)
    endpoint: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    context: Mapped[str] = mapped_column(String(100))
    prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    completion_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger)
    prompt_micro: Mapped[int] = mapped_column(BigInteger)
    completion_micro: Mapped[int] = mapped_column(BigInteger)
    cache_write_micro: Mapped[int] = mapped_column(BigInteger)
    cache_read_micro: Mapped[int] = mapped_column(BigInteger)
