"""Rendering rows as a rich table, JSON or CSV (money always as decimal strings)."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from billing.commands.common import Format

_RIGHT = {"credits", "usd", "amount", "tokens", "rate", "available_credits", "reserved_credits"}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def emit(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str],
    fmt: Format,
    *,
    title: str | None = None,
) -> int:
    """Write rows (dicts) in the format; returns how many were written."""
    count = 0
    if fmt is Format.json:
        out = sys.stdout
        out.write("[")
        for row in rows:
            out.write(("," if count else "") + "\n  ")
            out.write(json.dumps(row, default=_json_default))
            count += 1
        out.write("\n]\n" if count else "]\n")
        return count
    if fmt is Format.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_text(row.get(column)) for column in columns])
            count += 1
        return count
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, justify="right" if column in _RIGHT else "left")
    for row in rows:
        table.add_row(*(_text(row.get(column)) for column in columns))
        count += 1
    Console(width=max(160, Console().width)).print(table)
    return count
