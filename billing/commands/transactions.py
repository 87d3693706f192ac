"""`billing transactions`: ledger rows, newest first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import typer

from billing import money
from billing.balances import repository as repo
from billing.commands.common import Format, open_runtime, parse_when
from billing.commands.output import emit
from billing.models import LedgerEntry

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


def transaction_dict(entry: LedgerEntry) -> dict[str, Any]:
    """The same fields as GET /v1/transactions."""
    return {
        "id": entry.id,
        "created_at": entry.created_at,
        "user_id": entry.user_id,
        "kind": entry.kind,
        "token_type": entry.token_type,
        "tokens": entry.tokens,
        "rate": entry.rate,
        "credits": money.credits_str(entry.amount_micro),
        "usd": money.usd_str(entry.amount_micro),
        "model": entry.model,
        "value_key": entry.value_key,
        "priced_by": entry.priced_by,
        "context": entry.context,
        "endpoint": entry.endpoint,
        "conversation_id": entry.conversation_id,
        "message_id": entry.message_id,
        "event_id": entry.event_id,
        "reason": entry.reason,
    }


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
    start, end = parse_when(since, "--since"), parse_when(until, "--until")

    def rows() -> Iterator[dict[str, Any]]:
        with open_runtime() as runtime, runtime.sessions() as session:
            after_id, left = None, limit
            while left > 0:
                size = min(left, PAGE)
                page = repo.list_ledger(
                    session,
                    user_id=user,
                    conversation_id=conversation,
                    since=start,
                    until=end,
                    after_id=after_id,
                    limit=size,
                )
                yield from (transaction_dict(entry) for entry in page)
                if len(page) < size:
                    return
                after_id, left = page[-1].id, left - len(page)

    columns = COLUMNS if fmt is not Format.table else COLUMNS[:12]
    emit(rows(), columns, fmt, title="transactions")
