"""`billing import-librechat`: LibreChat's transactions and balances into the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from billing import money
from billing.commands.common import EXIT_PROBLEM, EXIT_USAGE, open_runtime
from billing.commands.progress import import_progress
from billing.importer.service import ImportAborted, ImportReport
from billing.importer.service import import_librechat as run_import

SHOWN_PROBLEMS = 20


def import_librechat(
    transactions: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            help="`mongoexport --collection transactions` output (JSON lines or --jsonArray)",
        ),
    ] = None,
    balances: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            help="`mongoexport --collection balances` output (JSON lines or --jsonArray)",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="stop at the first malformed document (exit 1, nothing written)")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option(help="read, check and count everything, then write nothing")
    ] = False,
    plain_progress: Annotated[
        bool, typer.Option(help="plain progress lines even on a terminal")
    ] = False,
) -> None:
    """Import LibreChat's balances and transactions (idempotent: re-running adds nothing).

    The whole import is one database transaction. Exit 0 when every document
    was imported, 1 when some were skipped as malformed (the rest is
    committed) or --strict stopped the import (nothing committed).
    """
    if transactions is None and balances is None:
        typer.echo("error: give --transactions FILE and/or --balances FILE", err=True)
        raise typer.Exit(EXIT_USAGE)
    with open_runtime() as runtime, runtime.sessions() as session:
        try:
            with import_progress(force_plain=plain_progress) as progress:
                session.begin()
                report = run_import(
                    session,
                    runtime.snapshot.config,
                    transactions=transactions,
                    balances=balances,
                    now=runtime.clock(),
                    strict=strict,
                    progress=progress,
                )
        except ImportAborted as exc:
            session.rollback()
            typer.echo(f"import stopped, nothing written: {exc.detail}", err=True)
            raise typer.Exit(EXIT_PROBLEM) from None
        except BaseException:
            session.rollback()
            raise
        if dry_run:
            session.rollback()
        else:
            session.commit()
    _print_summary(report, dry_run=dry_run)
    if report.skipped_total:
        raise typer.Exit(EXIT_PROBLEM)


def _print_summary(report: ImportReport, *, dry_run: bool) -> None:
    echo = typer.echo
    echo("dry run: nothing was written" if dry_run else "import committed")
    echo(
        f"users: {report.users} ({report.users_with_balance} with a balance document, "
        f"{report.users_without_balance} from transactions only)"
    )
    echo(
        f"transactions: {report.transactions_read} read, {report.transactions_imported} imported, "
        f"{report.transactions_present} already imported"
    )
    echo(f"balance documents: {report.balances_read} read")
    echo(
        f"opening entries: {report.opening_entries} "
        f"(total {money.credits_str(report.opening_total_micro)} credits)"
    )
    echo(f"skipped: {report.skipped_total}")
    for reason, count in report.skipped.most_common():
        echo(f"  {count} x {reason}")
    for problem in report.problems[:SHOWN_PROBLEMS]:
        typer.echo(f"skipped {problem.file} {problem.where}: {problem.reason}", err=True)
    if len(report.problems) > SHOWN_PROBLEMS or report.skipped_total > len(report.problems):
        typer.echo(f"... {report.skipped_total - SHOWN_PROBLEMS} more skipped documents", err=True)
