"""The database's own limit: the same event and ledger rows written directly with the driver.

No HTTP, no ORM, no pricing in the timed part: rows are built first, then
written in batches (one transaction per batch) with psycopg ``COPY`` and
``executemany``, and with sqlite3 ``executemany``. Tables are emptied between
methods, so each starts from the same state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from billing import money
from billing.pricing.engine import PriceBook
from billing.pricing.types import TokenCounts

EVENT_COLUMNS = [
    "event_id",
    "user_id",
    "endpoint",
    "model",
    "context",
    "conversation_id",
    "message_id",
    "reservation_id",
    "prompt_tokens",
    "completion_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "value_key",
    "priced_by",
    "total_micro",
    "cost_json",
    "occurred_at",
    "received_at",
]
LEDGER_COLUMNS = [
    "user_id",
    "kind",
    "amount_micro",
    "token_type",
    "tokens",
    "rate",
    "value_key",
    "priced_by",
    "context",
    "endpoint",
    "model",
    "conversation_id",
    "message_id",
    "event_id",
    "created_at",
]

Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


def build_rows(prices: PriceBook, events: Sequence[dict[str, Any]]) -> list[Rows]:
    """Per event: its usage_event row and its ledger rows (one per non-empty token line)."""
    now = datetime.now(UTC)
    seen: set[str] = set()
    out: list[Rows] = []
    for body in events:
        if body["event_id"] in seen:
            continue
        seen.add(body["event_id"])
        t = body["tokens"]
        counts = TokenCounts(
            t.get("prompt", 0),
            t.get("completion", 0),
            t.get("cache_write", 0),
            t.get("cache_read", 0),
        )
        context = body.get("context", "message")
        cost = prices.price(body["endpoint"], body["model"], counts, context)
        cost_json = orjson.dumps(cost.to_json()).decode()
        conv, msg = body.get("conversation_id"), body.get("message_id")
        event_row = (
            body["event_id"], body["user_id"], body["endpoint"], body["model"], context,
            conv, msg, None, counts.prompt, counts.completion, counts.cache_write,
            counts.cache_read, cost.value_key, cost.priced_by, cost.total_micro, cost_json,
            now, now,
        )  # fmt: skip
        ledger = [
            (
                body["user_id"],
                "usage",
                -line.micro,
                line.token_type,
                line.tokens,
                money.format_decimal(line.rate),
                cost.value_key,
                cost.priced_by,
                context,
                body["endpoint"],
                body["model"],
                conv,
                msg,
                body["event_id"],
                now,
            )
            for line in cost.lines
            if line.tokens or line.micro
        ]
        out.append(([event_row], ledger))
    return out


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


def postgres(url: str, rows: list[Rows], batch_size: int) -> dict[str, float]:
    """events/s for COPY (text and binary) and for executemany (psycopg 3, pipelined)."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    batches = _batches(rows, batch_size)
    ev_cols, led_cols = ", ".join(EVENT_COLUMNS), ", ".join(LEDGER_COLUMNS)
    ev_ph = ", ".join(["%s"] * len(EVENT_COLUMNS))
    led_ph = ", ".join(["%s"] * len(LEDGER_COLUMNS))
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

        ev_types = _types(conn, "usage_event", EVENT_COLUMNS)
        led_types = _types(conn, "ledger_entry", LEDGER_COLUMNS)

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


def _types(conn: Any, table: str, columns: list[str]) -> list[str]:
    rows = conn.execute(
        "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
        " WHERE a.attrelid = %s::regclass AND a.attnum > 0",
        [table],
    ).fetchall()
    types = dict(rows)
    return [types[name] for name in columns]


def _sqlite_value(value: Any) -> Any:
    # The format SQLAlchemy's SQLite DateTime stores (naive UTC text).
    return value.replace(tzinfo=None).isoformat(sep=" ") if isinstance(value, datetime) else value


def sqlite(url: str, rows: list[Rows], batch_size: int) -> dict[str, float]:
    """events/s for sqlite3 executemany (WAL, synchronous=NORMAL as the service uses)."""
    import sqlite3

    path = url.removeprefix("sqlite:///")
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
            f"INSERT INTO usage_event ({', '.join(EVENT_COLUMNS)}) "
            f"VALUES ({', '.join(['?'] * len(EVENT_COLUMNS))})"
        )
        led_sql = (
            f"INSERT INTO ledger_entry ({', '.join(LEDGER_COLUMNS)}) "
            f"VALUES ({', '.join(['?'] * len(LEDGER_COLUMNS))})"
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
