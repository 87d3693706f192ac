"""The event types a webhook can subscribe to, and the body every delivery carries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

BUDGET_THRESHOLD = "budget.threshold"
BUDGET_EXCEEDED = "budget.exceeded"
BALANCE_LOW = "balance.low"
UNPRICED_MODEL = "pricing.unpriced_model"
EVENT_TYPES: tuple[str, ...] = (BUDGET_THRESHOLD, BUDGET_EXCEEDED, BALANCE_LOW, UNPRICED_MODEL)


def body(event_type: str, timestamp: datetime, data: dict[str, Any]) -> str:
    """``{"type", "timestamp", "data"}`` as compact JSON: stored once, signed and sent as is."""
    document = {"type": event_type, "timestamp": timestamp.isoformat(), "data": data}
    return orjson.dumps(document).decode()
