"""Latency of GET /v1/costs over a large ledger (not part of the test suite).

    .venv/bin/python -m benchmarks.report_latency --db postgres|sqlite [--rows 1000000]

Creates a fresh database migrated with billing.migrator.upgrade, bulk-loads
realistic usage ledger rows directly (PostgreSQL COPY, SQLite executemany),
rebuilds the rollups from them, serves the real app with uvicorn on
127.0.0.1 and times real HTTP calls; prints p50 and p99 per query.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from billing import money
from billing.main import create_app
from billing.runtime import Runtime
from billing.settings import Settings
from testkit.databases import postgres_database, sqlite_database
from testkit.live import free_port

END = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 90
USERS = 2_000
# (endpoint, model, prompt rate, completion rate, cache write, cache read); weights follow.
MODELS = (
    ("openAI", "gpt-4o", "2.5", "10", "2.5", "1.25"),
    ("openAI", "gpt-4o-mini", "0.15", "0.6", "0.15", "0.075"),
    ("openAI", "gpt-4.1", "2", "8", "2", "0.5"),
    ("openAI", "o3-mini", "1.1", "4.4", "1.1", "0.55"),
    ("anthropic", "claude-sonnet-4-5", "3", "15", "3.75", "0.3"),
    ("anthropic", "claude-3-5-haiku", "0.8", "4", "1", "0.08"),
    ("anthropic", "claude-opus-4-1", "15", "75", "18.75", "1.5"),
    ("google", "gemini-2.5-pro", "1.25", "10", "1.25", "0.31"),
    ("google", "gemini-2.5-flash", "0.3", "2.5", "0.3", "0.075"),
    ("bedrock", "amazon.nova-pro-v1:0", "0.8", "3.2", "0.8", "0.8"),
)
WEIGHTS = (20, 25, 8, 5, 15, 8, 2, 6, 9, 2)
USER_IDS = [f"user-{i:05d}" for i in range(USERS)]
# Zipf-like: the heaviest user has about 2% of the traffic.
USER_WEIGHTS = list(itertools.accumulate(1 / (i + 10) for i in range(USERS)))
CONTEXTS = ("message",) * 45 + ("title",) * 4 + ("incomplete",)
COLUMNS = (
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
)


def ledger_rows(count: int, seed: int = 7) -> Iterator[tuple[object, ...]]:
    """Usage rows of chat traffic: a diurnal pattern, 2-4 token types per event."""
    rnd = random.Random(seed)
    start = END - timedelta(days=DAYS)
    produced = event_no = 0
    while produced < count:
        event_no += 1
        endpoint, model, *rates = rnd.choices(MODELS, WEIGHTS)[0]
        user = rnd.choices(USER_IDS, cum_weights=USER_WEIGHTS)[0]
        day = rnd.randrange(DAYS)
        hour = int(rnd.triangular(0, 24, 14)) % 24
        when = start + timedelta(days=day, hours=hour, seconds=rnd.randrange(3600))
        context = rnd.choice(CONTEXTS)
        tokens = {"prompt": rnd.randint(50, 8000), "completion": rnd.randint(10, 2000)}
        if rnd.random() < 0.35:
            tokens["cache_read"] = rnd.randint(500, 50_000)
        if rnd.random() < 0.1:
            tokens["cache_write"] = rnd.randint(500, 20_000)
        conversation = f"conv-{user}-{rnd.randrange(40)}"
        rate_of = dict(
            zip(("prompt", "completion", "cache_write", "cache_read"), rates, strict=True)
        )
        for token_type, count_ in tokens.items():
            rate = Decimal(rate_of[token_type])
            yield (
                user,
                "usage",
                -money.line_micro(count_, rate),
                token_type,
                count_,
                rate_of[token_type],
                model,
                "default",
                context,
                endpoint,
                model,
                conversation,
                f"msg-{event_no}",
                f"evt-{event_no}",
                when,
            )
            produced += 1
            if produced >= count:
                return


def load_postgres(url: str, count: int) -> None:
    import psycopg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY ledger_entry ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in ledger_rows(count):
                copy.write_row(row)
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE ledger_entry")


def load_sqlite(path: str, count: int) -> None:
    conn = sqlite3.connect(path)
    placeholders = ", ".join("?" for _ in COLUMNS)
    sql = f"INSERT INTO ledger_entry ({', '.join(COLUMNS)}) VALUES ({placeholders})"

    def as_text(rows: Iterator[tuple[object, ...]]) -> Iterator[tuple[object, ...]]:
        for row in rows:  # SQLAlchemy's storage format for UTC datetimes
            when = row[-1]
            assert isinstance(when, datetime)
            yield (*row[:-1], when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))

    with conn:
        conn.executemany(sql, as_text(ledger_rows(count)))
    conn.execute("ANALYZE")
    conn.close()


def rebuild_rollups(url: str) -> None:
    """Rollups follow the ledger in production; here they are rebuilt after the load."""
    try:
        from billing.reports.rollup_repository import rebuild_rollups as rebuild
    except ImportError:
        return
    engine = create_engine(url)
    with engine.begin() as conn:
        rebuild(conn)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE usage_rollup" if "postgres" in url else "ANALYZE"))
    engine.dispose()


def serve(url: str) -> tuple[uvicorn.Server, int]:
    settings = Settings(database_url=url)
    app = create_app(settings, Runtime(settings))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    return server, port


QUERIES = {
    "day,model (all 1M rows, UTC)": {"group_by": "day,model"},
    "day,model (all rows, Asia/Kolkata)": {"group_by": "day,model", "tz": "Asia/Kolkata"},
    "hour (last 7 days, America/New_York)": {
        "group_by": "hour",
        "tz": "America/New_York",
        "from": (END - timedelta(days=7)).isoformat(),
        "to": END.isoformat(),
    },
    "model,day (one user, 30 days)": {
        "group_by": "model,day",
        "user_id": "user-00000",
        "from": (END - timedelta(days=30)).isoformat(),
        "to": END.isoformat(),
    },
}


def time_queries(port: int, calls: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        for name, params in QUERIES.items():
            client.get("/v1/costs", params=params).raise_for_status()  # warm-up
            samples = []
            for _ in range(calls):
                began = time.perf_counter()
                response = client.get("/v1/costs", params=params)
                samples.append((time.perf_counter() - began) * 1000)
                response.raise_for_status()
            samples.sort()
            p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
            rows = len(response.json()["rows"])
            print(
                f"  {name:42s} p50 {statistics.median(samples):8.1f} ms"
                f"  p99 {p99:8.1f} ms  ({rows} rows)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("postgres", "sqlite"), required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--url", help="time an already loaded database instead")
    parser.add_argument("--keep", action="store_true", help="keep the database; print its URL")
    args = parser.parse_args()
    if args.url:
        server, port = serve(args.url)
        try:
            time_queries(port, args.calls)
        finally:
            server.should_exit = True
        return

    if args.db == "postgres":
        database = postgres_database(keep=args.keep)
    else:
        database = sqlite_database(Path(tempfile.mkdtemp(prefix="billing-bench-")), keep=args.keep)
    with database as url:
        began = time.perf_counter()
        if args.db == "postgres":
            load_postgres(url, args.rows)
        else:
            load_sqlite(url.removeprefix("sqlite:///"), args.rows)
        rebuild_rollups(url)
        print(f"{args.db}: loaded {args.rows:,} ledger rows in {time.perf_counter() - began:.1f} s")
        server, port = serve(url)
        try:
            time_queries(port, args.calls)
        finally:
            server.should_exit = True
        if args.keep:
            print(f"kept: {url}")


if __name__ == "__main__":
    main()
