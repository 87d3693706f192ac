"""Response bodies of GET /v1/audit (and the rows of `billing audit`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from billing.audit.types import AuditEntry


class AuditEntryOut(BaseModel):
    id: int
    created_at: datetime
    action: str = Field(description='what was done, e.g. "balance.grant" or "config.reload"')
    target: str = Field(description='what it was done to, e.g. "user:alice", "webhook:wh_..."')
    reason: str | None = Field(description="the reason the operator gave, if any")
    key_id: str | None = Field(
        description='the API key\'s id (never the key), "loopback", "cli" or "signal"'
    )
    details: dict[str, Any] = Field(description="the action's parameters (money as strings)")

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        """The one mapping of an audit entry: GET /v1/audit and `billing audit`."""
        return cls(
            id=entry.id,
            created_at=entry.created_at,
            action=entry.action,
            target=entry.target,
            reason=entry.reason,
            key_id=entry.key_id,
            details=entry.details,
        )


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_cursor: str | None
