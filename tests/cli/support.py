"""Run the real `billing` command in-process (typer's CliRunner) against a database."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from billing.cli import app
from billing.models import Balance, LedgerEntry
from billing.settings import get_settings


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(db_url: str, *args: str, config: str | None = None) -> Outcome:
    get_settings.cache_clear()  # settings are read once per process
    env = {"BILLING_DATABASE_URL": db_url, "BILLING_CONFIG": config}
    try:
        result = CliRunner().invoke(app, list(args), env=env)
    finally:
        get_settings.cache_clear()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def balances(db_url: str) -> dict[str, int]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(select(Balance.user_id, Balance.amount_micro)).all())
    engine.dispose()
    return {str(user): int(amount) for user, amount in rows.items()}


def ledger_sums(db_url: str, kind: str) -> dict[str, int]:
    engine = create_engine(db_url)
    stmt = (
        select(LedgerEntry.user_id, func.sum(LedgerEntry.amount_micro))
        .where(LedgerEntry.kind == kind)
        .group_by(LedgerEntry.user_id)
    )
    with engine.connect() as conn:
        rows = {str(user): int(total) for user, total in conn.execute(stmt)}
    engine.dispose()
    return rows


def ledger_count(db_url: str, kind: str | None = None) -> int:
    engine = create_engine(db_url)
    stmt = select(func.count()).select_from(LedgerEntry)
    if kind is not None:
        stmt = stmt.where(LedgerEntry.kind == kind)
    with engine.connect() as conn:
        count = int(conn.execute(stmt).scalar_one())
    engine.dispose()
    return count
