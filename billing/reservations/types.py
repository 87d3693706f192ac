"""What the reservation service shares with its schemas and with usage ingest.

Plain values, no database: importing a schema must not load the service.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_TTL_SECONDS = 10
MAX_TTL_SECONDS = 86_400  # per-request cap: a day


@dataclass(frozen=True, slots=True)
class UsageClaim:
    """A newly accepted usage event that names a reservation."""

    event_id: str
    user_id: str
    reservation_id: str
    cost_micro: int


@dataclass(frozen=True, slots=True)
class Settlement:
    reservation_id: str
    # settled | settled_expired | already_settled | released | user_mismatch | not_found,
    # or, for a lease: drawn | drawn_expired
    outcome: str
    held_micro: int | None
    charged_micro: int
