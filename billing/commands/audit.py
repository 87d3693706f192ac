"""`billing audit`: the audit trail of admin actions, newest first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import orjson
import typer

from billing.audit import service
from billing.audit.schemas import AuditEntryOut
from billing.audit.types import AuditFilter
from billing.commands.common import Format, fail, open_runtime, parse_when
from billing.commands.output import emit
from billing.errors import BillingError

COLUMNS = ("id", "created_at", "action", "target", "key_id", "reason", "details")
PAGE = 1000


def audit(
    action: Annotated[str | None, typer.Option(help="only this action, e.g. balance.grant")] = None,
    target: Annotated[str | None, typer.Option(help="only this target, e.g. user:alice")] = None,
    key_id: Annotated[
        str | None, typer.Option("--key-id", help="only this API key id (or loopback, cli)")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="from this ISO date/time on (UTC unless a zone is given)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="before this ISO date/time")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many entries")] = 50,
    fmt: Annotated[Format, typer.Option("--format", help="output format")] = Format.table,
) -> None:
    """List admin actions (grants, sets, reloads, webhook, budget and role changes)."""
    which = AuditFilter(
        action, target, key_id, parse_when(since, "--since"), parse_when(until, "--until")
    )

    def rows() -> Iterator[dict[str, Any]]:
        with open_runtime() as runtime, runtime.sessions() as session:
            before, left = None, limit
            while left > 0:
                size = min(left, PAGE)
                try:
                    page = service.list_entries(session, which, before_id=before, limit=size)
                except BillingError as exc:
                    raise fail(exc) from None
                # The same objects as GET /v1/audit (one mapping, AuditEntryOut.of).
                for entry in page:
                    row = AuditEntryOut.of(entry).model_dump()
                    if fmt is not Format.json:  # one cell: the details as compact JSON
                        row["details"] = orjson.dumps(row["details"]).decode()
                    yield row
                if len(page) < size:
                    return
                before, left = page[-1].id, left - len(page)

    emit(rows(), COLUMNS, fmt, title="audit")
