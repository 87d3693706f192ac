"""The service's notion of now (UTC); tests replace Runtime.clock to move time."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
