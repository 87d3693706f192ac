"""The database's own limit: the same event and ledger rows written directly with the driver.

No HTTP, no ORM, no pricing in the timed part: rows are built first (by the
service's own ``prepare_events``, so they are exactly what ingest writes), then
written in batches (one transaction per batch) with psycopg ``COPY`` and
``executemany``, and with sqlite3 ``executemany``. Tables are emptied between
methods, so each starts from the same state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table

from billing.dialect.postgresql import column_types
from billing.dialect.rows import layout
from billing.models import LedgerEntry, UsageEvent
from billing.runtime import ConfigSnapshot
from billing.usage.schemas import UsageEventIn
from billing.usage.service import prepare_events

Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


def build_rows(snapshot: ConfigSnapshot, events: Sequence[dict[str, Any]]) -> Layout:
    """Per event, the usage_event row and ledger rows ingest itself builds for it
    (``prepare_events``), as value tuples in column order."""
    first: dict[str, UsageEventIn] = {}
    for body in events:
        first.setdefault(body["event_id"], UsageEventIn.model_validate(body))
    prepared = prepare_events(snapshot, list(first.values()), datetime.now(UTC))
    event_columns, event_rows = layout(_table(UsageEvent), [p.event_row for p in prepared])
    ledger = [row for p in prepared for row in p.ledger_rows]
    ledger_columns, ledger_rows = layout(_table(LedgerEntry), ledger)
    per_event, start = [], 0
    for event_row, item in zip(event_rows, prepared, strict=True):
        end = start + len(item.ledger_rows)
        per_event.append(([event_row], ledger_rows[start:end]))
        start = end
    return Layout(event_columns, ledger_columns, per_event)


@dataclass(frozen=True)
class Layout:
    event_columns: list[str]
    ledger_columns: list[str]
    rows: list[Rows]


def _table(model: type) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def _batches(rows: list[Rows], size: int) -> list[Rows]:
    batches = []
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        batches.append(
            ([r for events, _ in chunk for r in events], [r for _, led in chunk for r in led])
        )
    return batches


def _timed(write: Callable[[Rows], None], batches: list[Rows]) -> float:
    start = time.perf_counter()
    for batch in batches:
        write(batch)
    return time.perf_counter() - start


def postgres(url: str, layout: Layout, batch_size: int) -> dict[str, float]:
    """events/s for COPY (text and binary) and for executemany (psycopg 3, pipelined)."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    rows = layout.rows
    batches = _batches(rows, batch_size)
    ev_cols, led_cols = ", ".join(layout.event_columns), ", ".join(layout.ledger_columns)
    ev_ph = ", ".join(["%s"] * len(layout.event_columns))
    led_ph = ", ".join(["%s"] * len(layout.ledger_columns))
    results: dict[str, float] = {}
    with psycopg.connect(dsn) as conn:

        def copy(batch: Rows) -> None:
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(f"COPY usage_event ({ev_cols}) FROM STDIN") as cp:
                    for row in batch[0]:
                        cp.write_row(row)
                with cur.copy(f"COPY ledger_entry ({led_cols}) FROM STDIN") as cp:
                    for row in batch[1]:
                        cp.write_row(row)

        ev_types = [column_types(conn, "usage_event")[c] for c in layout.event_columns]
        led_types = [column_types(conn, "ledger_entry")[c] for c in layout.ledger_columns]

        def copy_binary(batch: Rows) -> None:
            with conn.transaction(), conn.cursor() as cur:
                sql = f"COPY usage_event ({ev_cols}) FROM STDIN (FORMAT BINARY)"
                with cur.copy(sql) as cp:
                    cp.set_types(ev_types)
                    for row in batch[0]:
                        cp.write_row(row)
                sql = f"COPY ledger_entry ({led_cols}) FROM STDIN (FORMAT BINARY)"
                with cur.copy(sql) as cp:
                    cp.set_types(led_types)
                    for row in batch[1]:
                        cp.write_row(row)

        def executemany(batch: Rows) -> None:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(f"INSERT INTO usage_event ({ev_cols}) VALUES ({ev_ph})", batch[0])
                cur.executemany(
                    f"INSERT INTO ledger_entry ({led_cols}) VALUES ({led_ph})", batch[1]
                )

        methods = (("copy", copy), ("copy_binary", copy_binary), ("executemany", executemany))
        for name, write in methods:
            conn.execute("TRUNCATE usage_event, ledger_entry")
            conn.commit()
            results[name] = len(rows) / _timed(write, batches)
        conn.execute("TRUNCATE usage_event, ledger_entry")
        conn.commit()
    return results


def _sqlite_value(value: Any) -> Any:
    # The format SQLAlchemy's SQLite DateTime stores (naive UTC text).
    return value.replace(tzinfo=None).isoformat(sep=" ") if isinstance(value, datetime) else value


def sqlite(url: str, layout: Layout, batch_size: int) -> dict[str, float]:
    """events/s for sqlite3 executemany (WAL, synchronous=NORMAL as the service uses)."""
    import sqlite3

    path = url.removeprefix("sqlite:///")
    rows = layout.rows
    converted = [
        ([tuple(map(_sqlite_value, r)) for r in ev], [tuple(map(_sqlite_value, r)) for r in led])
        for ev, led in rows
    ]
    batches = _batches(converted, batch_size)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        ev_sql = (
            f"INSERT INTO usage_event ({', '.join(layout.event_columns)}) "
            f"VALUES ({', '.join(['?'] * len(layout.event_columns))})"
        )
        led_sql = (
            f"INSERT INTO ledger_entry ({', '.join(layout.ledger_columns)}) "
            f"VALUES ({', '.join(['?'] * len(layout.ledger_columns))})"
        )

        def executemany(batch: Rows) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(ev_sql, batch[0])
            conn.executemany(led_sql, batch[1])
            conn.execute("COMMIT")

        conn.execute("DELETE FROM ledger_entry")
        conn.execute("DELETE FROM usage_event")
        rate = len(rows) / _timed(executemany, batches)
        conn.execute("DELETE FROM ledger_entry")
        conn.execute("DELETE FROM usage_event")
    finally:
        conn.close()
    return {"executemany": rate}
