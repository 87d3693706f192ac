"""`billing balance get|list|add|set`: LibreChat's balance scripts, as ledger rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import typer

from billing import actors
from billing.balances import service
from billing.balances.schemas import BalanceOut
from billing.balances.types import BalanceView
from billing.commands.common import (
    Format,
    TakesNegativeAmount,
    fail,
    open_runtime,
    parse_amount,
    transaction,
)
from billing.commands.output import emit
from billing.errors import BillingError

app = typer.Typer(
    help="Show and change user balances (every change is a ledger row).", no_args_is_help=True
)

COLUMNS = (
    "user_id",
    "credits",
    "usd",
    "auto_refill",
    "refill_amount",
    "refill_every",
    "last_refill_at",
    "next_refill_at",
)
UserArg = Annotated[str, typer.Argument(help="user id (LibreChat's user ObjectId as hex)")]
FormatOpt = Annotated[Format, typer.Option("--format", help="output format")]
ReasonOpt = Annotated[str | None, typer.Option(help="why, stored on the ledger row")]


def balance_dict(view: BalanceView) -> dict[str, Any]:
    """GET /v1/balances/{user_id}'s answer, flattened to the command's columns."""
    out = BalanceOut.of(view)
    refill = out.auto_refill
    return {
        "user_id": out.user_id,
        "credits": out.credits,
        "usd": out.usd,
        "auto_refill": refill.enabled,
        "refill_amount": refill.amount,
        "refill_every": f"{refill.interval_value} {refill.interval_unit}",
        "last_refill_at": refill.last_refill_at,
        "next_refill_at": refill.next_refill_at,
    }


@app.command("get")
def get(user_id: UserArg, fmt: FormatOpt = Format.table) -> None:
    """Show one user's balance; exit 1 when the user has none."""
    with open_runtime() as runtime, transaction(runtime) as session:
        try:
            view = service.get_balance(session, user_id, runtime.clock())
        except BillingError as exc:
            raise fail(exc) from None
    emit([balance_dict(view)], COLUMNS, fmt)


@app.command("list")
def list_balances(
    limit: Annotated[int, typer.Option(min=1, help="at most this many users")] = 100,
    after: Annotated[str | None, typer.Option(help="start after this user id (paging)")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """List balances in user id order (LibreChat's list-balances)."""

    def rows() -> Iterator[dict[str, Any]]:
        with open_runtime() as runtime, runtime.sessions() as session:
            cursor, left = after, limit
            while left > 0:
                page = service.list_balances(
                    session, after=cursor, limit=min(left, 1000), now=runtime.clock()
                )
                yield from (balance_dict(view) for view in page)
                if len(page) < min(left, 1000):
                    return
                cursor, left = page[-1].user_id, left - len(page)

    emit(rows(), COLUMNS, fmt, title="balances")


@app.command("add", cls=TakesNegativeAmount)
def add(
    user_id: UserArg,
    amount: Annotated[
        str, typer.Argument(help="credits to add; negative deducts (write `-- -500`)")
    ],
    reason: ReasonOpt = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="applied once however often the command is repeated")
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Add credits to a user (LibreChat's add-balance), recorded as a `grant` ledger row."""
    credits = parse_amount(amount, "AMOUNT")
    with open_runtime() as runtime, transaction(runtime) as session:
        try:
            granted = service.grant(
                session,
                runtime.snapshot.config,
                user_id,
                credits,
                reason=reason,
                idempotency_key=idempotency_key,
                now=runtime.clock(),
                actor=actors.CLI,
            )
        except BillingError as exc:
            raise fail(exc) from None
    if not granted.applied:
        typer.echo("already applied (same idempotency key): nothing changed", err=True)
    emit([balance_dict(granted.balance)], COLUMNS, fmt)


@app.command("set", cls=TakesNegativeAmount)
def set_(
    user_id: UserArg,
    credits: Annotated[str, typer.Argument(help="the new balance in credits")],
    reason: ReasonOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Set a user's balance (LibreChat's set-balance); the difference is one `set` row."""
    target = parse_amount(credits, "CREDITS")
    with open_runtime() as runtime, transaction(runtime) as session:
        try:
            view = service.set_balance(
                session,
                runtime.snapshot.config,
                user_id,
                target,
                reason=reason,
                now=runtime.clock(),
                actor=actors.CLI,
            )
        except BillingError as exc:
            raise fail(exc) from None
    emit([balance_dict(view)], COLUMNS, fmt)
