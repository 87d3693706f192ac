"""Recording admin actions and listing them.

``record`` writes in the caller's transaction, so an action and its entry
commit together, and an action that fails or is refused leaves no entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from billing.audit import repository as repo
from billing.audit.types import AuditEntry, AuditFilter
from billing.clock import utc_now
from billing.errors import InvalidRequest


def record(
    session: Session,
    *,
    action: str,
    target: str,
    reason: str | None,
    key_id: str | None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """One audit entry, in ``session``'s transaction. ``key_id`` names the API key
    (billing.actors.key_id), never the key; ``details`` is JSON (money as strings)."""
    repo.add(
        session,
        {
            "created_at": now or utc_now(),
            "action": action,
            "target": target,
            "reason": reason,
            "key_id": key_id,
            "details": orjson.dumps(details or {}).decode(),
        },
    )


def list_entries(
    session: Session, which: AuditFilter, *, before_id: int | None, limit: int
) -> list[AuditEntry]:
    """Entries newest first, keyset-paged: pass the last entry's id as ``before_id``."""
    for name, value in (("since", which.since), ("until", which.until)):
        if value is not None and value.tzinfo is None:
            raise InvalidRequest(f"{name}: needs a time zone (e.g. Z)", field=name)
    return [
        AuditEntry(
            row.id,
            row.created_at,
            row.action,
            row.target,
            row.reason,
            row.key_id,
            orjson.loads(row.details),
        )
        for row in repo.list_entries(session, which, before_id=before_id, limit=limit)
    ]
