"""`billing report`: the /v1/costs breakdown as a table, CSV or JSON."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from billing.commands.common import Format, fail, open_runtime, parse_when
from billing.commands.output import emit
from billing.errors import BillingError
from billing.reports import service
from billing.reports.schemas import Spend

TOKEN_COLUMNS = ("prompt", "completion", "cache_write", "cache_read")


def _spend(spend: Spend) -> dict[str, Any]:
    return {
        "tokens": spend.tokens,
        **spend.tokens_by_type.model_dump(),
        "credits": spend.credits,
        "usd": spend.usd,
        "amount": spend.amount,
    }


def report(
    start: Annotated[
        str | None, typer.Option("--from", help="from this ISO date/time (UTC without a zone)")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="before this ISO date/time")] = None,
    group_by: Annotated[
        str,
        typer.Option(help=f"comma-separated, any of {', '.join(service.GROUP_DIMENSIONS)}"),
    ] = "user_id,model",
    user: Annotated[str | None, typer.Option(help="only this user id")] = None,
    endpoint: Annotated[str | None, typer.Option(help="only this endpoint")] = None,
    model: Annotated[str | None, typer.Option(help="only this model")] = None,
    tz: Annotated[str, typer.Option(help="time zone of day/hour buckets, e.g. Europe/Berlin")] = (
        "UTC"
    ),
    currency: Annotated[
        str | None, typer.Option(help="USD or the configured display currency")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=service.MAX_ROWS, help="at most this many rows")
    ] = (1000),
    fmt: Annotated[Format, typer.Option("--format", help="output format")] = Format.table,
) -> None:
    """Spend and tokens grouped by user, model, day, ... (the same numbers as GET /v1/costs)."""
    query = service.CostsQuery(
        start=parse_when(start, "--from"),
        end=parse_when(end, "--to"),
        group_by=[group_by],
        tz=tz,
        currency=currency,
        user_id=user,
        endpoint=endpoint,
        model=model,
        limit=limit,
    )
    with open_runtime() as runtime, runtime.sessions() as session:
        try:
            result = service.costs(session, runtime.snapshot.config.currency, query)
        except BillingError as exc:
            raise fail(exc) from None
    if fmt is Format.json:
        typer.echo(result.model_dump_json(by_alias=True, indent=2))
        return
    dims = list(result.group_by)
    money_columns = ["credits", "usd"] + (["amount"] if result.currency != "USD" else [])
    columns = [*dims, "tokens", *TOKEN_COLUMNS, *money_columns]
    rows = [{**row.key, **_spend(row)} for row in result.rows]
    rows.append(
        {**dict.fromkeys(dims, ""), **(dict.fromkeys(dims[:1], "total")), **_spend(result.total)}
    )
    title = f"costs ({result.currency}, {result.tz})" + (" truncated" if result.truncated else "")
    emit(rows, columns, fmt, title=title)
