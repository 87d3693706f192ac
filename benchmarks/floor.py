"""The stack's own floor for a single event: the HTTP server and the database driver,
each with none of the service's work.

``python -m benchmarks.floor [--rate 500] [--seconds 8] [--workers 2] [--rounds 1000]``
prints, for this machine:

- ``http``: uvicorn as ``billing serve`` runs it (uvloop, httptools, ``workers``
  processes) serving benchmarks/floor_app.py, which reads the body and answers a
  fixed single-event answer, driven at ``rate`` req/s by the load generator with
  make bench's single-event requests (``phases.open_loop_spec``: the same bodies,
  256 connections). The CPU of its worker processes per request.
- ``transaction``: the statements of one group commit of single events, captured
  from the service's own ingest on a fresh migrated PostgreSQL database (users
  seen before, as in make bench), then replayed by psycopg alone (BEGIN, the
  statements, COMMIT; every replay's event ids new, so each inserts its rows),
  for groups of one and of two events. This thread's CPU per transaction, next to
  the same groups recorded through the service's transaction
  (``benchmarks.txn_cpu``'s way), interleaved in one run.

A single event's service CPU cannot go below about ``http`` plus the driver's
transaction divided by the events a group holds (about two per group at 500
req/s on two workers: the linger's groups, benchmarks/RESULTS.md). That is the
floor issue 15's CPU target per single event is measured against.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import phases
from benchmarks import txn_cpu as txn
from benchmarks.cpu_split import _children, _cpu_seconds
from benchmarks.traffic import Traffic, write_config
from billing.runtime import Runtime
from billing.settings import Settings
from billing.usage.rows import PricedEvent
from testkit.live import free_port, stop_process

GROUPS = (1, 2)
CAPTURED = 5  # groups whose statements are captured (the commonest form is replayed)
CHUNKS = 4  # the service's and the driver's transactions alternate in this many chunks
Statement = tuple[Any, Any, dict[str, Any]]  # query, params, execute's keywords


def http_floor(rate: int, seconds: float, workers: int, workdir: Path) -> dict[str, Any]:
    """CPU per request of uvicorn alone (benchmarks/floor_app.py) at ``rate`` req/s."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "benchmarks.floor_app:app", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--http", "httptools",
            "--loop", "uvloop", "--lifespan", "off", "--no-access-log", "--log-level", "warning",
        ],
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    try:
        _wait_listening(port, server)
        base = f"http://127.0.0.1:{port}"
        spec = phases.open_loop_spec(base, "ingest", rate, int(rate * seconds), 4242, 10)
        pids = [pid for pid in _children(server.pid) if pid != server.pid]
        before = sum(_cpu_seconds(pid) for pid in pids)
        result = phases.loadgen(spec, workdir, timeout_s=seconds + 120)
        used = sum(_cpu_seconds(pid) for pid in pids) - before
    finally:
        stop_process(server)
    done = max(1, result["completed"] + len(spec["warmup"]))
    return {
        "rate": rate,
        "workers": workers,
        "completed": result["completed"],
        "p99_ms": round(result["p99_ms"], 2),
        "cpu_ms_per_request": round(used * 1000 / done, 3),
    }


def _wait_listening(port: int, server: subprocess.Popen[Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"uvicorn ended with {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"uvicorn did not listen on {port} within {timeout} s")


def transaction_floor(rounds: int) -> dict[str, Any]:
    """Thread CPU (us) per transaction of single-event groups: psycopg alone replaying
    the service's statements, and the service's own transaction."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="billing-floor-") as tmp:
        config = write_config(Path(tmp))
        with txn._database("postgresql", Path(tmp)) as url:
            runtime = Runtime(Settings(database_url=url, config=config))
            try:
                txn._prime(runtime, Traffic(seed=3).users)
                dsn = url.replace("postgresql+psycopg://", "postgresql://")
                with psycopg.connect(dsn, options="-c TimeZone=UTC") as driver:
                    for group in GROUPS:
                        out[str(group)] = _compare(runtime, driver, group, rounds)
            finally:
                runtime.close()
    return out


def _compare(runtime: Runtime, driver: Any, group: int, rounds: int) -> dict[str, float]:
    # Events of their own (a seed per group size): the same ids again would be duplicates.
    groups = txn._groups(runtime, rounds + txn.WARMUP + CAPTURED, group, 0, seed=100 + group)
    for requests in groups[: txn.WARMUP]:
        txn._record(runtime, requests)
    # The usual group's statements: now and then one sends a statement more (a refill
    # due, say), so the commonest count of a few groups is kept.
    captured = [(_captured(runtime, g), g) for g in groups[txn.WARMUP : txn.WARMUP + CAPTURED]]
    usual = statistics.mode(len(statements) for statements, _ in captured)
    statements, chosen = next((st, g) for st, g in captured if len(st) == usual)
    ids = [item.event.event_id for request in chosen for item in request]
    todo = groups[txn.WARMUP + CAPTURED :]
    for number in range(txn.WARMUP):  # the driver's statements prepared, as the service's are
        _replay(driver, _renamed_all(statements, ids, f"w{number}"))
    service = driver_cpu = 0.0
    chunk = len(todo) // CHUNKS
    for part in range(CHUNKS):
        started = time.thread_time()
        for requests in todo[part * chunk : (part + 1) * chunk]:
            txn._record(runtime, requests)
        service += time.thread_time() - started
        # Renamed before the clock starts, as the service's groups are priced before it.
        replays = [
            _renamed_all(statements, ids, str(number))
            for number in range(part * chunk, (part + 1) * chunk)
        ]
        started = time.thread_time()
        for replay in replays:
            _replay(driver, replay)
        driver_cpu += time.thread_time() - started
    done = chunk * CHUNKS
    return {
        "statements": len(statements),
        "driver_us": round(driver_cpu * 1e6 / done),
        "service_us": round(service * 1e6 / done),
    }


def _captured(runtime: Runtime, requests: list[list[PricedEvent]]) -> list[Statement]:
    """The statements one group commit of ``requests`` sends through psycopg."""
    statements: list[Statement] = []
    execute = psycopg.Cursor.execute

    def spy(cursor: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        statements.append((query, params, kwargs))
        return execute(cursor, query, params, **kwargs)

    psycopg.Cursor.execute = spy  # type: ignore[method-assign,assignment]
    try:
        txn._record(runtime, requests)
    finally:
        psycopg.Cursor.execute = execute  # type: ignore[method-assign]
    return statements


def _replay(driver: Any, statements: list[Statement]) -> None:
    """The statements in one transaction."""
    with driver.transaction(), driver.cursor() as cursor:
        for query, params, kwargs in statements:
            cursor.execute(query, params, **kwargs)
            if cursor.description is not None:
                cursor.fetchall()


def _renamed_all(statements: list[Statement], ids: list[str], suffix: str) -> list[Statement]:
    """The statements with the captured event ids made new (``suffix``)."""
    return [(query, _renamed(params, ids, suffix), kwargs) for query, params, kwargs in statements]


def _renamed(params: Any, ids: list[str], suffix: str) -> Any:
    """JSON document parameters with each event id (a JSON string) given ``suffix``."""
    if not isinstance(params, list | tuple):
        return params
    renamed = []
    for value in params:
        if isinstance(value, str):
            for event_id in ids:
                value = value.replace(f'"{event_id}"', f'"{event_id}~{suffix}"')
        renamed.append(value)
    return renamed


def run(rate: int, seconds: float, workers: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="billing-floor-http-") as tmp:
        http = http_floor(rate, seconds, workers, Path(tmp))
    transactions = transaction_floor(rounds)
    pair = transactions["2"]["driver_us"] / 2 / 1000
    return {
        "http": http,
        "transaction_us": transactions,
        # uvicorn alone plus the driver's share of a group of two: no pricing, no checks,
        # no thread hand-off, no ORM.
        "floor_ms_per_event": round(http["cpu_ms_per_request"] + pair, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=phases.REFERENCE_RATE)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(run(args.rate, args.seconds, args.workers, args.rounds), indent=2))


if __name__ == "__main__":
    main()
