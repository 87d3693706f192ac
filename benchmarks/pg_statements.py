"""PostgreSQL's CPU per statement of a batch's ingest transaction, in one process.

``python -m benchmarks.pg_statements [--batch 1000] [--rounds 30]`` records, on a
fresh migrated database with the make-bench users seen once, ``rounds`` batches
of the make-bench batch phase's traffic the way a worker does (as
``benchmarks.batch_cpu``), and wraps psycopg's ``execute``, ``copy`` and
``commit`` to read, around each call, the CPU time of the connection's backend
process (``/proc/<pid>/schedstat``: nanoseconds on a CPU) and of this thread.
It prints, per statement (its first 90 characters) and per batch, the backend's
CPU and the client's, largest first, and the backend's total.

It answers "what does PostgreSQL spend a batch on": make bench's CPU split
only gives the total. PostgreSQL must run on this machine (it reads /proc).
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import psycopg

from benchmarks import batch_cpu
from benchmarks.traffic import Traffic, write_config
from billing.runtime import Runtime
from billing.settings import Settings
from testkit import databases

WARMUP = 5

backend_ns: collections.Counter[str] = collections.Counter()
client_ns: collections.Counter[str] = collections.Counter()


def _backend_cpu_ns(pid: int) -> int:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def _label(statement: Any) -> str:
    text = statement.decode() if isinstance(statement, bytes) else str(statement)
    return " ".join(text.split())[:90]


@contextmanager
def _measured(pid: int, label: str) -> Iterator[None]:
    backend, client = _backend_cpu_ns(pid), time.thread_time_ns()
    try:
        yield
    finally:
        backend_ns[label] += _backend_cpu_ns(pid) - backend
        client_ns[label] += time.thread_time_ns() - client


def _instrument() -> None:
    """Wrap psycopg's Cursor.execute, Cursor.copy and Connection.commit."""
    execute, copy, commit = psycopg.Cursor.execute, psycopg.Cursor.copy, psycopg.Connection.commit

    def measured_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        with _measured(self.connection.info.backend_pid, _label(query)):
            return execute(self, query, *args, **kwargs)

    @contextmanager
    def measured_copy(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        pid = self.connection.info.backend_pid
        with _measured(pid, _label(statement)), copy(self, statement, *args, **kwargs) as stream:
            yield stream

    def measured_commit(self: Any) -> None:
        with _measured(self.info.backend_pid, "COMMIT"):
            commit(self)

    psycopg.Cursor.execute = measured_execute  # type: ignore[method-assign]
    psycopg.Cursor.copy = measured_copy  # type: ignore[method-assign,assignment]
    psycopg.Connection.commit = measured_commit  # type: ignore[method-assign]


def run(batch: int, rounds: int) -> str:
    traffic = Traffic(seed=batch)
    bodies = [orjson.dumps({"events": traffic.events(batch)}) for _ in range(rounds + WARMUP)]
    _instrument()
    with tempfile.TemporaryDirectory(prefix="billing-pg-statements-") as tmp:
        config = write_config(Path(tmp))
        with databases.postgres_database("billing_pg_statements") as url:
            runtime = Runtime(Settings(database_url=url, config=config))
            try:
                batch_cpu._prime(runtime, traffic.users)
                for body in bodies[:WARMUP]:
                    batch_cpu._one(runtime, body)
                backend_ns.clear()
                client_ns.clear()
                for body in bodies[WARMUP:]:
                    batch_cpu._one(runtime, body)
                backend, client = backend_ns.copy(), client_ns.copy()  # not the teardown's
            finally:
                runtime.close()
    lines = [f"per batch of {batch:,} events, {rounds} batches: PostgreSQL / client CPU, ms"]
    for label, used in backend.most_common():
        lines.append(f"{used / rounds / 1e6:7.2f} {client[label] / rounds / 1e6:7.2f}  {label}")
    lines.append(f"{sum(backend.values()) / rounds / 1e6:7.2f}          PostgreSQL in all")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print(run(args.batch, args.rounds))


if __name__ == "__main__":
    main()
