"""GET /v1/audit: the admin actions, newest first. Admin only: it shows operator activity."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from billing.api.deps import AdminScope, SessionDep
from billing.api.schemas import CURSOR_PATTERN, ID_PATTERN
from billing.audit import service
from billing.audit.schemas import AuditEntryOut, AuditPage
from billing.audit.types import AuditFilter

router = APIRouter(tags=["audit"])


def _text(description: str) -> object:
    return Query(max_length=300, pattern=ID_PATTERN, description=description)


@router.get("/v1/audit", response_model=AuditPage, dependencies=[AdminScope])
def list_audit(
    session: SessionDep,
    action: Annotated[
        str | None, _text('only this action, e.g. "balance.grant" (README "Audit trail")')
    ] = None,
    target: Annotated[str | None, _text('only this target, e.g. "user:alice"')] = None,
    key_id: Annotated[
        str | None, _text('only actions of this API key id (or "loopback", "cli", "signal")')
    ] = None,
    since: Annotated[
        datetime | None, Query(description="entries at or after this time (with a zone)")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="entries before this time (with a zone)")
    ] = None,
    cursor: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, description="next_cursor of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="entries per page")] = 100,
) -> AuditPage:
    """Admin actions (grants, sets, config reloads, webhook, budget and role changes),
    newest first; pass next_cursor back as cursor for the next page."""
    which = AuditFilter(action, target, key_id, since, until)
    entries = service.list_entries(
        session, which, before_id=int(cursor) if cursor else None, limit=limit
    )
    return AuditPage(
        entries=[AuditEntryOut.of(entry) for entry in entries],
        next_cursor=str(entries[-1].id) if len(entries) == limit else None,
    )
