"""Pre-flight checks of users seen for the first time (not part of the test suite).

    .venv/bin/python -m benchmarks.first_sight [--users 600] [--in-flight 32]

The write path of POST /v1/balances/{user_id}/check (startBalance on first
sight, a due refill) commits in the worker's group committer. This measures
what one such check costs: the real app in process (ASGI, no sockets, so the
figures hardly move with the machine's load) over a fresh PostgreSQL
database, ``--in-flight`` checks at a time, each of a new user. It prints
checks per second, the process's CPU per check, and the database's commits
per check (pg_stat_database; the read-only transactions of the shared
unlocked read count too).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from billing.main import create_app
from billing.settings import Settings
from testkit.databases import postgres_database

CONFIG = """
balance:
  enabled: true
  startBalance: 100000
"""
ESTIMATE = {"endpoint": "anthropic", "model": "claude-sonnet-4-5", "tokens": {"prompt": 1000}}


def _commits(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = "select xact_commit from pg_stat_database where datname = current_database()"
            return int(conn.execute(text(query)).scalar_one())
    finally:
        engine.dispose()


async def _checks(app: FastAPI, users: list[str], in_flight: int) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://billing") as client:
        waiting = list(users)

        async def worker() -> None:
            while waiting:
                response = await client.post(f"/v1/balances/{waiting.pop()}/check", json=ESTIMATE)
                assert response.status_code == 200, response.text

        await asyncio.gather(*(worker() for _ in range(in_flight)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--in-flight", type=int, default=32)
    args = parser.parse_args()
    config = Path(tempfile.mkdtemp()) / "librechat.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    with postgres_database("billing_first_sight") as url:
        app = create_app(Settings(database_url=url, config=config))
        try:
            asyncio.run(_checks(app, [f"warm-{i}" for i in range(50)], args.in_flight))
            for run in range(2):
                users = [f"user-{run}-{i}" for i in range(args.users)]
                time.sleep(1)  # the statistics collector catches up
                commits, cpu, wall = _commits(url), time.process_time(), time.perf_counter()
                asyncio.run(_checks(app, users, args.in_flight))
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                time.sleep(1)
                commits = _commits(url) - commits
                print(
                    f"first sight: {args.users / wall:5.0f} checks/s,"
                    f" {cpu / args.users * 1000:5.2f} ms CPU/check,"
                    f" {commits / args.users:5.2f} commits/check"
                )
        finally:
            app.state.runtime.close()


if __name__ == "__main__":
    main()
