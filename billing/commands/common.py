"""Shared pieces of the operator commands: database session, errors, option parsing."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal

import typer
from sqlalchemy.orm import Session

# typer carries its own copy of click: its parser raises these classes, not click's.
from typer._click.core import Context
from typer._click.exceptions import NoSuchOption, UsageError
from typer.core import TyperCommand

from billing import money
from billing.errors import BillingError, InvalidRequest
from billing.runtime import Runtime
from billing.settings import get_settings

EXIT_PROBLEM = 1
EXIT_USAGE = 2


class Format(enum.StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


@contextmanager
def open_runtime() -> Iterator[Runtime]:
    runtime = Runtime(get_settings())
    try:
        yield runtime
    finally:
        runtime.close()


@contextmanager
def transaction(runtime: Runtime) -> Iterator[Session]:
    """One database transaction: committed when the block ends, rolled back on error."""
    with runtime.sessions() as session, session.begin():
        yield session


def fail(exc: BillingError) -> typer.Exit:
    """Report a domain error; a bad value is a usage error (2), anything else a problem (1)."""
    typer.echo(f"error: {exc.code}: {exc.detail}", err=True)
    return typer.Exit(EXIT_USAGE if isinstance(exc, InvalidRequest) else EXIT_PROBLEM)


_NEGATIVE_NUMBER = re.compile(r"-\d[\d.]*")


class TakesNegativeAmount(TyperCommand):
    """A command with an amount argument: ``-500`` reads as an unknown option
    ("No such option: -5"), so say how to pass it instead."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        given = list(args)  # the parser consumes ``args``
        try:
            return super().parse_args(ctx, args)
        except NoSuchOption as exc:
            number = next((a for a in given if _NEGATIVE_NUMBER.fullmatch(a)), None)
            if number is None or not number.startswith(exc.option_name):
                raise
            raise UsageError(
                f"{number} reads as an option (No such option: {exc.option_name}). "
                f"Put -- before a negative amount, after every option: "
                f"{ctx.command_path} [OPTIONS] ... -- {number}",
                ctx,
            ) from None


def parse_amount(text: str, name: str) -> Decimal:
    try:
        return money.to_decimal(text)
    except money.MoneyError as exc:
        raise typer.BadParameter(str(exc), param_hint=name) from None


def parse_when(text: str | None, name: str) -> datetime | None:
    """ISO date or date-time; without a zone it is UTC."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO date or date-time", param_hint=name
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
