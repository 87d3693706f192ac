"""Where the admin corrections are audited: a no-op until the audit trail is wired.

AUDIT: the lead replaces ``record`` with ``billing.audit.record`` at merge;
the call sites (billing/reprice/service.py) already pass its arguments.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


def record(
    session: Session,
    *,
    action: str,
    target: str,
    reason: str | None,
    key_id: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    """AUDIT: no-op stand-in for billing.audit.record (same signature)."""
