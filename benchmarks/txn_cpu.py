"""CPU of the ingest transaction alone: no HTTP, no parsing, one process.

``python -m benchmarks.txn_cpu [--backend postgresql|sqlite] [--group 1] [--batch 0]
[--rounds 400] [--contend]`` records, on a fresh migrated database with the
make-bench users seen once, ``rounds`` transactions through the group commit's
work function (``usage.service.record_requests``), each of ``group`` requests
of one event (or, with ``--batch N``, of N events), and prints the process's
CPU and the wall time per transaction. The events are priced before the clock
starts. ``--contend`` runs a thread validating and pricing batches meanwhile,
as a worker's request threads do: the wall time then shows how long the
transaction waits for the GIL.

CPU per transaction is the figure to compare (A/B, back to back): wall time
includes the database and whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from benchmarks.traffic import Traffic, write_config
from billing.group_commit import run_transaction
from billing.runtime import Runtime
from billing.settings import Settings
from billing.usage import service
from billing.usage.rows import PricedEvent
from billing.usage.schemas import UsageEventIn
from testkit import databases

WARMUP = 20


def _database(backend: str, directory: Path) -> AbstractContextManager[str]:
    if backend == "postgresql":
        return databases.postgres_database("billing_txn")
    return databases.sqlite_database(directory)


def _prime(runtime: Runtime, users: list[str]) -> None:
    """Every user seen once: first sight (startBalance) is not what is measured."""
    snapshot = runtime.snapshot
    for start in range(0, len(users), 500):
        events = [
            UsageEventIn.model_validate(
                {"event_id": f"prime-{u}", "user_id": u, "endpoint": "openAI",
                 "model": "gpt-4o-mini", "tokens": {"prompt": 1}}
            )
            for u in users[start : start + 500]
        ]  # fmt: skip
        _record(runtime, [service.prepare_events(snapshot, events, runtime.clock())])


def _record(runtime: Runtime, requests: list[list[PricedEvent]]) -> None:
    """One group commit's transaction of these requests."""
    snapshot, now = runtime.snapshot, runtime.clock()
    run_transaction(runtime.sessions, lambda s: service.record_requests(s, snapshot, requests, now))


def _groups(
    runtime: Runtime, rounds: int, group: int, batch: int, seed: int = 3
) -> list[list[list[PricedEvent]]]:
    """Priced requests for ``rounds`` transactions (``seed``: the traffic's; the same
    seed makes the same event ids)."""
    traffic = Traffic(seed=seed, duplicate_rate=0.0)
    snapshot, groups = runtime.snapshot, []
    for _ in range(rounds):
        now = runtime.clock()
        if batch:
            events = [UsageEventIn.model_validate(e) for e in traffic.events(batch)]
            groups.append([service.prepare_events(snapshot, events, now) for _ in range(group)])
        else:
            groups.append(
                [
                    service.prepare_events(
                        snapshot, [UsageEventIn.model_validate(traffic.event())], now, batch=False
                    )
                    for _ in range(group)
                ]
            )
    return groups


def _contend(runtime: Runtime, stop: threading.Event) -> None:
    """What a worker's request threads do: validate and price batches."""
    spare = Traffic(seed=9).events(1000)
    while not stop.is_set():
        events = [UsageEventIn.model_validate(e) for e in spare]
        service.prepare_events(runtime.snapshot, events, runtime.clock())


def run(backend: str, group: int, batch: int, rounds: int, contend: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="billing-txn-") as tmp:
        directory = Path(tmp)
        config = write_config(directory)
        with _database(backend, directory) as url:
            runtime = Runtime(Settings(database_url=url, config=config))
            try:
                _prime(runtime, Traffic(seed=3).users)
                groups = _groups(runtime, rounds + WARMUP, group, batch)
                stop = threading.Event()
                if contend:
                    threading.Thread(target=_contend, args=(runtime, stop), daemon=True).start()
                for requests in groups[:WARMUP]:
                    _record(runtime, requests)
                cpu, wall = time.process_time(), time.perf_counter()
                for requests in groups[WARMUP:]:
                    _record(runtime, requests)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                stop.set()
            finally:
                runtime.close()
    events = rounds * group * (batch or 1)
    return {
        "backend": backend,
        "group": group,
        "batch": batch,
        "contend": contend,
        # With --contend the process's CPU includes the contending thread's.
        "cpu_ms_per_transaction": round(cpu * 1000 / rounds, 3),
        "cpu_ms_per_event": round(cpu * 1000 / events, 4),
        "wall_ms_per_transaction": round(wall * 1000 / rounds, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--group", type=int, default=1, help="requests per transaction")
    parser.add_argument("--batch", type=int, default=0, help="events per request (0: one)")
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--contend", action="store_true")
    args = parser.parse_args()
    result = run(args.backend, args.group, args.batch, args.rounds, args.contend)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
