"""Operator commands of the `billing` CLI, registered on the app in billing/cli.py."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from billing.commands import audit, balance, import_librechat, report, reprice, transactions

    app.add_typer(balance.app, name="balance")
    app.command("transactions")(transactions.transactions)
    app.command("report")(report.report)
    app.command("audit")(audit.audit)
    app.command("import-librechat")(import_librechat.import_librechat)
    app.command("reprice")(reprice.reprice)
