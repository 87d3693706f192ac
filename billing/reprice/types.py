"""Value types of reprice runs and voids (what the services answer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Selection:
    """The events a run reprices: occurred in [start, end), optionally narrowed."""

    start: datetime
    end: datetime
    endpoint: str | None = None
    model: str | None = None
    user_id: str | None = None


@dataclass(slots=True)
class ModelDelta:
    endpoint: str
    model: str
    events: int = 0
    old_micro: int = 0
    new_micro: int = 0


@dataclass(slots=True)
class RepriceResult:
    run_id: str
    dry_run: bool
    price_book: str
    events: int = 0  # matching events not yet priced with the current price book
    changed_events: int = 0
    skipped_events: int = 0  # their endpoint is no longer configured: left as they are
    old_micro: int = 0
    new_micro: int = 0
    by_model: dict[tuple[str, str], ModelDelta] = field(default_factory=dict)

    def add(self, other: RepriceResult) -> None:
        self.events += other.events
        self.changed_events += other.changed_events
        self.skipped_events += other.skipped_events
        self.old_micro += other.old_micro
        self.new_micro += other.new_micro
        for key, part in other.by_model.items():
            mine = self.by_model.setdefault(key, ModelDelta(*key))
            mine.events += part.events
            mine.old_micro += part.old_micro
            mine.new_micro += part.new_micro


@dataclass(frozen=True, slots=True)
class VoidResult:
    event_id: str
    user_id: str
    voided_at: datetime
    reason: str
    reversed_micro: int
    already_voided: bool
