"""`billing transactions`: ledger rows, newest first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import typer

from billing.balances import service
from billing.balances.schemas import TransactionOut
from billing.balances.types import TransactionFilter
from billing.commands.common import Format, open_runtime, parse_when
from billing.commands.output import emit

COLUMNS = (
    "id",
    "created_at",
    "user_id",
    "kind",
    "token_type",
    "tokens",
    "rate",
    "credits",
    "usd",
    "model",
    "value_key",
    "context",
    "endpoint",
    "conversation_id",
    "message_id",
    "event_id",
    "reason",
)
PAGE = 1000


def transactions(
    user: Annotated[str | None, typer.Option(help="only this user id")] = None,
    conversation: Annotated[str | None, typer.Option(help="only this conversation id")] = None,
    since: Annotated[
        str | None, typer.Option(help="from this ISO date/time on (UTC unless a zone is given)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="before this ISO date/time")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many rows")] = 50,
    fmt: Annotated[Format, typer.Option("--format", help="output format")] = Format.table,
) -> None:
    """List ledger rows (usage, grants, refills, imports), newest first."""
    which = TransactionFilter(
        user, conversation, parse_when(since, "--since"), parse_when(until, "--until")
    )

    def rows() -> Iterator[dict[str, Any]]:
        with open_runtime() as runtime, runtime.sessions() as session:
            after_id, left = None, limit
            while left > 0:
                size = min(left, PAGE)
                page = service.list_transactions(session, which, after_id=after_id, limit=size)
                # The same objects as GET /v1/transactions (one mapping, TransactionOut.of).
                yield from (TransactionOut.of(row).model_dump() for row in page)
                if len(page) < size:
                    return
                after_id, left = page[-1].id, left - len(page)

    columns = COLUMNS if fmt is not Format.table else COLUMNS[:12]
    emit(rows(), columns, fmt, title="transactions")
