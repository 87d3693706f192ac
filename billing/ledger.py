"""The shape of a ledger row, for every writer of the ledger (usage, balances, import)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def ledger_row(user_id: str, kind: str, amount_micro: int, now: datetime, **fields: Any) -> dict:
    """A ledger row as a plain mapping (bulk-insertable); unset columns are NULL."""
    row: dict[str, Any] = dict.fromkeys(_LEDGER_OPTIONAL)
    row.update(user_id=user_id, kind=kind, amount_micro=amount_micro, created_at=now)
    row.update(fields)
    return row


def blank_ledger_row() -> dict[str, Any]:
    """Every column ``ledger_row`` sets, all NULL, to fill in: a C-level dict copy, for
    the ingest path's per-event rows (~1 us cheaper than ledger_row's keywords)."""
    return _BLANK.copy()


_LEDGER_OPTIONAL = (
    "token_type",
    "tokens",
    "rate",
    "value_key",
    "priced_by",
    "context",
    "endpoint",
    "model",
    "conversation_id",
    "message_id",
    "event_id",
    "idempotency_key",
    "reason",
)
_BLANK: dict[str, Any] = dict.fromkeys(ledger_row("", "", 0, datetime.min))
