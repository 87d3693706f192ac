"""What a usage event writes: its usage_event row, its ledger rows, its content fingerprint.

Built by the request (``priced_event``), outside the transaction, so the
group commit spends its time on the database, not on Python; the ingest core
(billing/usage/ingest.py) writes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

import orjson

from billing import idempotency, money
from billing.dialect.rows import RowGroups
from billing.frozen import fast_constructor
from billing.pricing.types import Cost
from billing.usage.normalize import UsageWarning
from billing.usage.schemas import UsageEventIn

# An event's billing-relevant content (usage_event column -> the name an
# idempotency conflict reports): a repeated event_id is a duplicate only with
# all of these equal. Token counts are the disjoint counts, whether sent as
# ``tokens`` or derived from ``provider_usage``. occurred_at is not content: a
# retry may stamp it anew.
CONTENT = {
    "user_id": "user_id",
    "endpoint": "endpoint",
    "model": "model",
    "context": "context",
    "conversation_id": "conversation_id",
    "message_id": "message_id",
    "reservation_id": "reservation_id",
    "prompt_tokens": "tokens.prompt",
    "completion_tokens": "tokens.completion",
    "cache_write_tokens": "tokens.cache_write",
    "cache_read_tokens": "tokens.cache_read",
}
CONTENT_COLUMNS = tuple(CONTENT)
CONTENT_FIELDS = tuple(CONTENT.values())
content = itemgetter(*CONTENT_COLUMNS)  # an event row's content, as a tuple


# An event's usage ledger rows (every column of billing/ledger.py's rows), as one
# group of RowGroups: the values its rows share, then each cost line's own.
LEDGER_SHARED = (
    "kind", "value_key", "priced_by", "context", "endpoint", "model", "idempotency_key",
    "reason", "user_id", "created_at", "conversation_id", "message_id", "event_id",
)  # fmt: skip
LEDGER_OWN = ("amount_micro", "tokens", "token_type", "rate")
LedgerGroup = tuple[tuple[Any, ...], list[tuple[Any, ...]]]


@dataclass(frozen=True, slots=True)
class PricedEvent:
    """An event priced, with every row it will write built in advance."""

    event: UsageEventIn
    cost: Cost
    occurred_at: datetime
    cost_text: str  # the cost object as JSON text: stored with the event, sent in answers
    event_row: dict[str, Any]
    # Its usage ledger rows as one group of LEDGER_* values; None when transactions are off.
    ledger: LedgerGroup | None
    warnings: tuple[UsageWarning, ...] = ()  # about the provider's usage numbers

    @property
    def ledger_rows(self) -> list[dict[str, Any]]:
        """Its ledger rows as mappings (built on each call; the bulk path writes ``ledger``)."""
        return ledger_groups([self]).rows() if self.ledger is not None else []

    @property
    def cost_json(self) -> dict[str, Any]:
        """The cost object (parsed from cost_text: not on the hot path)."""
        cost: dict[str, Any] = orjson.loads(self.cost_text)
        return cost

    @property
    def fingerprint(self) -> bytes:
        fingerprint: bytes = self.event_row["fingerprint"]
        return fingerprint


_new_priced_event: Callable[..., PricedEvent] = fast_constructor(PricedEvent)  # billing/frozen.py


def ledger_groups(items: Iterable[PricedEvent]) -> RowGroups:
    """The usage ledger rows of these events, for the writers' ``insert_groups``."""
    groups = [item.ledger for item in items if item.ledger is not None and item.ledger[1]]
    return RowGroups(LEDGER_SHARED, LEDGER_OWN, groups)


def priced_event(
    event: UsageEventIn,
    cost: Cost,
    occurred_at: datetime,
    warnings: tuple[UsageWarning, ...],
    now: datetime,
    *,
    charged: bool,
    price_book: str | None = None,
) -> PricedEvent:
    """The event received at ``now`` with its rows; ``charged``: transactions are on;
    ``price_book``: the version (rates hash) that priced it."""
    cost_text = cost.json_text()
    return _new_priced_event(
        event,
        cost,
        occurred_at,
        cost_text,
        _event_row(event, cost, cost_text, occurred_at, now, price_book),
        _ledger_group(event, cost, occurred_at) if charged else None,
        warnings,
    )


def _ledger_group(event: UsageEventIn, cost: Cost, occurred_at: datetime) -> LedgerGroup:
    """One usage row per non-empty line (LEDGER_SHARED, LEDGER_OWN)."""
    shared = (
        "usage", cost.value_key, cost.priced_by, event.context, event.endpoint, event.model,
        None, None, event.user_id, occurred_at, event.conversation_id, event.message_id,
        event.event_id,
    )  # fmt: skip
    rate = money.rate_str
    own = [
        (-line.micro, line.tokens, line.token_type, rate(line.rate))
        for line in cost.lines
        if line.tokens or line.micro
    ]
    return shared, own


def _event_row(
    event: UsageEventIn,
    cost: Cost,
    cost_text: str,
    occurred_at: datetime,
    now: datetime,
    price_book: str | None,
) -> dict[str, Any]:
    # Cost.lines: the four TOKEN_TYPES in order, then the 1-hour cache writes if any.
    lines = cost.lines
    hour = lines[4].tokens if len(lines) > 4 else 0
    row: dict[str, Any] = {
        "event_id": event.event_id,
        "user_id": event.user_id,
        "endpoint": event.endpoint,
        "model": event.model,
        "context": event.context,
        "conversation_id": event.conversation_id,
        "message_id": event.message_id,
        "reservation_id": event.reservation_id,
        "prompt_tokens": lines[0].tokens,
        "completion_tokens": lines[1].tokens,
        "cache_write_tokens": lines[2].tokens + hour,  # both TTLs
        "cache_read_tokens": lines[3].tokens,
        "value_key": cost.value_key,
        "priced_by": cost.priced_by,
        "total_micro": cost.total_micro,
        "cost_json": cost_text,  # compact, like json.dumps(separators)
        "occurred_at": occurred_at,
        "received_at": now,
        "price_book": price_book,
    }
    # The 1-hour cache writes are content too, but not a column of their own
    # (cache_write_tokens holds both TTLs): the fingerprint covers the split.
    row["fingerprint"] = idempotency.fingerprint((*content(row), hour))
    return row
