"""Queries over the audit trail (the only place that builds them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.audit.types import AuditFilter
from billing.models import AuditEntry


def add(session: Session, row: dict[str, Any]) -> None:
    session.add(AuditEntry(**row))


def list_entries(
    session: Session, which: AuditFilter, *, before_id: int | None, limit: int
) -> list[AuditEntry]:
    """Newest first (by id), keyset-paged: ids below ``before_id``."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    conditions: list[Any] = []
    if which.action is not None:
        conditions.append(AuditEntry.action == which.action)
    if which.target is not None:
        conditions.append(AuditEntry.target == which.target)
    if which.key_id is not None:
        conditions.append(AuditEntry.key_id == which.key_id)
    if which.since is not None:
        conditions.append(AuditEntry.created_at >= which.since)
    if which.until is not None:
        conditions.append(AuditEntry.created_at < which.until)
    if before_id is not None:
        conditions.append(AuditEntry.id < before_id)
    return list(session.scalars(query.where(*conditions)))
