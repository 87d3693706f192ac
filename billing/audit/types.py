"""What the audit service returns (plain values; the schemas map them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The actions recorded (README "Audit trail"); other code may add its own names.
BALANCE_GRANT = "balance.grant"
BALANCE_SET = "balance.set"
CONFIG_RELOAD = "config.reload"
WEBHOOK_CREATE = "webhook.create"
WEBHOOK_DELETE = "webhook.delete"
WEBHOOK_REDELIVER = "webhook.redeliver"
BUDGET_SET = "budget.set"
BUDGET_DELETE = "budget.delete"
ROLE_SET = "role.set"
REPRICE_RUN = "reprice.run"
USAGE_VOID = "usage.void"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    created_at: datetime
    action: str
    target: str
    reason: str | None
    key_id: str | None  # the API key's id, "loopback", "cli" or "signal"; never the key
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which entries to list (all given conditions hold), newest first."""

    action: str | None = None
    target: str | None = None
    key_id: str | None = None
    since: datetime | None = None  # at or after
    until: datetime | None = None  # before


def user_target(user_id: str) -> str:
    return f"user:{user_id}"


def webhook_target(webhook_id: str) -> str:
    return f"webhook:{webhook_id}"
