"""`billing reprice`: POST /v1/admin/reprice from the command line (JSON answer)."""

from __future__ import annotations

from typing import Annotated

import typer

from billing.actors import CLI
from billing.commands.common import EXIT_USAGE, fail, open_runtime, parse_when
from billing.errors import BillingError
from billing.reprice import service
from billing.reprice.schemas import RepriceOut


def reprice(
    start: Annotated[str, typer.Option("--from", help="events occurred at or after (ISO)")],
    end: Annotated[str, typer.Option("--to", help="events occurred before (ISO)")],
    reason: Annotated[str, typer.Option(help="why, stored on every reprice row")],
    endpoint: Annotated[str | None, typer.Option(help="only this endpoint")] = None,
    model: Annotated[str | None, typer.Option(help="only this model")] = None,
    user: Annotated[str | None, typer.Option(help="only this user id")] = None,
    apply: Annotated[
        bool, typer.Option("--apply/--dry-run", help="write the corrections (default: dry run)")
    ] = False,
    chunk: Annotated[
        int, typer.Option(min=1, help="events per transaction of an apply")
    ] = service.DEFAULT_CHUNK,
) -> None:
    """Price matching events again with the configured price book. Dry run by
    default; --apply commits per chunk, so an interrupted run is finished by
    running it again. Prints the answer of POST /v1/admin/reprice."""
    since, until = parse_when(start, "--from"), parse_when(end, "--to")
    assert since is not None and until is not None  # required options
    if until <= since:
        typer.echo("error: --to must be after --from", err=True)
        raise typer.Exit(EXIT_USAGE)
    if not reason.strip():
        typer.echo("error: --reason must not be empty", err=True)
        raise typer.Exit(EXIT_USAGE)
    selection = service.Selection(since, until, endpoint, model, user)
    with open_runtime() as runtime:
        snapshot = runtime.snapshot
        try:
            result = service.reprice(
                runtime.sessions,
                snapshot.config,
                snapshot.prices,
                selection,
                runtime.clock(),
                dry_run=not apply,
                reason=reason,
                chunk=chunk,
                key_id=CLI,
            )
        except BillingError as exc:
            raise fail(exc) from None
    typer.echo(RepriceOut.of(result).model_dump_json(indent=2))
