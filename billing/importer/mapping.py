"""LibreChat documents -> ledger rows and balance settings (pure, no I/O).

One transaction document becomes exactly one ledger row of kind ``import``
with LibreChat's own ``tokenValue`` as the amount. A structured (cache-aware)
prompt row stays one row: LibreChat stores only the total and a weighted
average rate, so splitting it into prompt / cache_write / cache_read rows
would need per-part rates it never recorded; the split token counts are kept
in the row's ``reason`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from billing import money
from billing.balances.service import MAX_ABS_MICRO
from billing.importer.extjson import (
    ValueProblem,
    date_value,
    decimal_value,
    object_id,
    object_id_time,
    optional_decimal,
    optional_text,
    whole_number,
)
from billing.ledger import ledger_row

TOKEN_TYPES = ("prompt", "completion", "credits")
REFILL_UNITS = ("seconds", "minutes", "hours", "days", "weeks", "months")
_STRUCTURED_PARTS = (("inputTokens", "input"), ("writeTokens", "write"), ("readTokens", "read"))
_MAX_INTERVAL = 2**31 - 1


def import_key(transaction_id: str) -> str:
    return f"import:{transaction_id}"


def _amount_micro(credits: Decimal, field: str) -> int:
    micro = money.micro_from_credits(credits)
    if abs(micro) > MAX_ABS_MICRO:
        raise ValueProblem(f"{field}: amount out of range")
    return micro


def transaction_row(doc: dict[str, Any]) -> dict[str, Any]:
    """The ledger row for one LibreChat transaction; ValueProblem names a bad field."""
    tx_id = object_id(doc.get("_id"), "_id")
    user_id = object_id(doc.get("user"), "user")
    token_type = doc.get("tokenType")
    if token_type not in TOKEN_TYPES:
        raise ValueProblem(f"tokenType: {token_type!r} is not one of {', '.join(TOKEN_TYPES)}")
    raw = optional_decimal(doc, "rawAmount")
    rate = optional_decimal(doc, "rate")
    value = optional_decimal(doc, "tokenValue")
    if value is None:
        # LibreChat's own rule: tokenValue = rawAmount * rate; credits rows carry rawAmount.
        if raw is not None and token_type == "credits":
            value = raw
        elif raw is not None and rate is not None:
            value = raw * rate
        else:
            raise ValueProblem("tokenValue: missing (and no rawAmount and rate to derive it)")
    tokens, notes = _tokens(doc, token_type, raw)
    tenant = optional_text(doc, "tenantId", 100)
    if tenant:
        notes.append(f"tenant={tenant}")
    return ledger_row(
        user_id,
        "import",
        _amount_micro(value, "tokenValue"),
        _created_at(doc, tx_id),
        token_type=token_type,
        tokens=tokens,
        rate=None if rate is None else money.format_decimal(rate),
        value_key=optional_text(doc, "valueKey", 200),
        context=optional_text(doc, "context", 100),
        model=optional_text(doc, "model", 200),
        conversation_id=optional_text(doc, "conversationId", 200),
        message_id=optional_text(doc, "messageId", 200),
        idempotency_key=import_key(tx_id),
        reason="; ".join(["librechat", *notes]),
    )


def _tokens(doc: dict[str, Any], token_type: str, raw: Decimal | None) -> tuple[int | None, list]:
    if token_type == "credits":
        return None, []
    parts = [
        (label, abs(whole_number(decimal_value(doc[field], field), field)))
        for field, label in _STRUCTURED_PARTS
        if doc.get(field) is not None
    ]
    if parts:
        return sum(count for _, count in parts), [
            "structured " + " ".join(f"{label}={count}" for label, count in parts)
        ]
    if raw is None:
        return None, []
    if raw != raw.to_integral_value():  # not a token count; the amount still stands
        return None, [f"rawAmount={money.format_decimal(raw)}"]
    return abs(int(raw)), []


def _created_at(doc: dict[str, Any], tx_id: str) -> datetime:
    for field in ("createdAt", "updatedAt"):
        if doc.get(field) is not None:
            return date_value(doc[field], field)
    from_id = object_id_time(tx_id)
    if from_id is None:
        raise ValueProblem("createdAt: missing, and _id is not an ObjectId to take it from")
    return from_id


@dataclass(frozen=True, slots=True)
class BalanceDoc:
    """A LibreChat balance document, decoded; defaults are LibreChat's schema defaults."""

    user_id: str
    credits_micro: int
    auto_refill_enabled: bool
    refill_interval_value: int
    refill_interval_unit: str
    refill_amount_micro: int
    last_refill_at: datetime | None

    def settings(self, now: datetime) -> dict[str, Any]:
        """The refill columns of the balance row (a missing lastRefill means now)."""
        return {
            "auto_refill_enabled": self.auto_refill_enabled,
            "refill_interval_value": self.refill_interval_value,
            "refill_interval_unit": self.refill_interval_unit,
            "refill_amount_micro": self.refill_amount_micro,
            "last_refill_at": self.last_refill_at or now,
        }


def balance_doc(doc: dict[str, Any]) -> BalanceDoc:
    user_id = object_id(doc.get("user"), "user")
    credits = optional_decimal(doc, "tokenCredits") or Decimal(0)
    enabled = doc.get("autoRefillEnabled", False)
    if not isinstance(enabled, bool):
        raise ValueProblem("autoRefillEnabled: not a boolean")
    interval_raw = optional_decimal(doc, "refillIntervalValue")
    interval = 30 if interval_raw is None else whole_number(interval_raw, "refillIntervalValue")
    if not 0 <= interval <= _MAX_INTERVAL:
        raise ValueProblem("refillIntervalValue: out of range")
    unit = doc.get("refillIntervalUnit", "days")
    if unit not in REFILL_UNITS:
        raise ValueProblem(f"refillIntervalUnit: {unit!r} is not one of {', '.join(REFILL_UNITS)}")
    refill = optional_decimal(doc, "refillAmount") or Decimal(0)
    last = doc.get("lastRefill")
    return BalanceDoc(
        user_id=user_id,
        credits_micro=_amount_micro(credits, "tokenCredits"),
        auto_refill_enabled=enabled,
        refill_interval_value=interval,
        refill_interval_unit=unit,
        refill_amount_micro=_amount_micro(refill, "refillAmount"),
        last_refill_at=None if last is None else date_value(last, "lastRefill"),
    )
