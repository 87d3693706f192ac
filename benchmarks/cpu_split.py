"""Where the CPU goes during one open-loop step: load generator, service, database.

``python -m benchmarks.cpu_split --kind check --rate 500 [--seconds 4] [--workers 2]
[--backend postgres|sqlite]`` (or ``--kind batch --rate 1000``: the batch phase,
batches of 1,000, after the raw driver insert of the same rows that make bench
compares it with) starts the service on a fresh PostgreSQL database (or SQLite
file), runs one step of the ``make bench``
load and prints, per request (per event for batches), the CPU time each party used
(from /proc: user + system time of the load generator, the service's
processes, and the PostgreSQL backends of its database with the server's shared
processes: the WAL writer, the checkpointer; other databases' backends, e.g.
another session's tests, are left out). On a 2-core machine the three share
2,000 ms of CPU per second; this shows which one runs out first. ``make bench``
takes the same split inside its own run (``PartyMeter``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy.engine import make_url

from benchmarks import phases
from benchmarks.traffic import Traffic, write_config
from testkit import databases
from testkit.live import live_server

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int, thread: int | None = None) -> float:
    """A process's CPU seconds, or one of its threads' (``thread``: its id)."""
    stat = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    try:
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def thread_seconds(pids: list[int]) -> dict[str, float]:
    """CPU seconds of the processes' threads by role, from the names the service gives
    its threads at the OS level (billing/thread_names.py): ``event loop`` (the main
    thread: uvicorn and the app's HTTP side), ``commit-ingest`` and the other group
    committers (numbers dropped), ``request threads`` (those left as ``python``:
    AnyIO's, pricing big batches)."""
    used: dict[str, float] = {}
    for pid in pids:
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                comm = (task / "comm").read_text().strip()
            except OSError:
                continue
            if task.name == str(pid):
                role = "event loop"
            elif comm == "python":
                role = "request threads"
            else:
                role = comm.rstrip("0123456789").rstrip("_")
            used[role] = used.get(role, 0.0) + _cpu_seconds(pid, int(task.name))
    return used


def _pids_named(fragment: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if fragment in cmdline:
                pids.append(int(entry.name))
    return pids


def _children(pid: int) -> list[int]:
    out = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                out.extend(_children(int(entry.name)))
    return out


class CpuMeter:
    """CPU seconds used by groups of processes between start() and stop().

    Groups are found by a function, again at stop(), so processes started in
    between (PostgreSQL backends for new connections) count in full.
    """

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self.before: dict[str, dict[int, float]] = {}

    def _now(self) -> dict[str, dict[int, float]]:
        return {name: {p: _cpu_seconds(p) for p in find()} for name, find in self.groups.items()}

    def start(self) -> None:
        self.before = self._now()

    def stop(self) -> dict[str, float]:
        after = self._now()
        return {
            name: sum(cpu - self.before[name].get(pid, 0.0) for pid, cpu in after[name].items())
            for name in self.groups
        }


# The PostgreSQL server's own processes, shared by every database: the WAL writer and
# checkpointer work for our commits too. Client backends name their database.
_SERVER_PROCESSES = (
    "checkpointer", "background writer", "walwriter", "autovacuum launcher",
    "logical replication launcher", "archiver", "stats collector", "bin/postgres -D",
)  # fmt: skip


def postgres_pids(database: str | None = None) -> list[int]:
    """PostgreSQL's processes; with ``database``, only that database's backends and the
    server's shared processes (other databases' backends, e.g. another session's
    tests on a shared machine, are left out)."""
    pids = []
    for pid in _pids_named("postgres"):
        if database is None:
            pids.append(pid)
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f" {database} " in cmdline or any(name in cmdline for name in _SERVER_PROCESSES):
            pids.append(pid)
    return pids


class PartyMeter:
    """CPU seconds of the three parties between start() and stop() (and the "wall"
    seconds): the `billing serve` listening on ``base`` (supervisor and workers),
    PostgreSQL (``database``'s backends and the server's shared processes; None: no
    PostgreSQL) and the load generator, a child of this process run to completion in
    between (RUSAGE_CHILDREN; the load generator's own ``cpu_s`` leaves out its
    interpreter's start)."""

    def __init__(self, base: str, database: str | None) -> None:
        port = base.rsplit(":", 1)[1]
        service = _pids_named(f"serve --port {port}")[0]
        groups: dict[str, Callable[[], list[int]]] = {"service": lambda: _children(service)}
        if database is not None:
            groups["postgresql"] = lambda: postgres_pids(database)
        self._meter = CpuMeter(groups)
        self._children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._began = 0.0

    def start(self) -> None:
        self._children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._meter.start()
        self._began = time.perf_counter()

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._began
        used = self._meter.stop()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        used["loadgen"] = (children.ru_utime - self._children.ru_utime) + (
            children.ru_stime - self._children.ru_stime
        )
        used["wall"] = wall
        return used


def _prime_users(base: str) -> None:
    """Every traffic user seen once, as in make bench (its single-event phases run
    after batch ingest): first sight (startBalance) is not what is measured here."""
    users = Traffic(seed=1).users
    with httpx.Client(base_url=base, timeout=120) as client:
        for start in range(0, len(users), 500):
            events = [
                {"event_id": f"prime-{user}", "user_id": user, "endpoint": "openAI",
                 "model": "gpt-4o-mini", "tokens": {"prompt": 1}}
                for user in users[start : start + 500]
            ]  # fmt: skip
            client.post("/v1/usage", json={"events": events}).raise_for_status()


def _batch_spec(base: str, size: int, count: int = 30_000) -> dict[str, Any]:
    """The batch phase of make bench: ``count`` events in batches of ``size``."""
    events = Traffic(seed=size).events(count)
    bodies = [
        orjson.dumps({"events": events[i : i + size]}).decode() for i in range(0, count, size)
    ]
    return {
        "base": base,
        "mode": "closed",
        "path": "/v1/usage",
        "bodies": bodies,
        "concurrency": phases.BATCH_CONCURRENCY,
        "timeout_s": 240,
    }


def run(
    kind: str,
    rate: int,
    seconds: float,
    workers: int,
    settings: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    backend: str = "postgres",
    events: int = 30_000,
) -> dict[str, Any]:
    raw: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="billing-cpu-") as tmp:
        workdir = Path(tmp)
        config = write_config(workdir)
        postgres = backend == "postgres"
        database = databases.postgres_database() if postgres else databases.sqlite_database(workdir)
        with database as url:
            if kind == "batch":  # make bench's baseline: the raw insert of the same rows
                raw = phases.raw_insert(backend, url, config, events)
            with live_server(
                url,
                config=config,
                workers=workers,
                env={"BILLING_LOG_LEVEL": "WARNING", **(settings or {})},
            ) as base:
                _prime_users(base)
                spec = (
                    _batch_spec(base, rate, events)
                    if kind == "batch"
                    else phases.open_loop_spec(base, kind, rate, int(rate * seconds), 4242, 10)
                )
                spec["headers"] = headers or {}
                spec_path = workdir / "spec.json"
                spec_path.write_bytes(orjson.dumps(spec))
                meter = PartyMeter(base, make_url(url).database if postgres else None)
                workers_pids = _children(_pids_named(f"serve --port {base.rsplit(':', 1)[1]}")[0])
                meter.start()
                threads = thread_seconds(workers_pids)
                done = subprocess.run(
                    [sys.executable, "-m", "benchmarks.loadgen", str(spec_path)],
                    stdout=subprocess.PIPE,
                    text=True,
                    timeout=seconds + 120,
                    check=True,
                )
                threads = {
                    role: cpu - threads.get(role, 0.0)
                    for role, cpu in thread_seconds(workers_pids).items()
                }
                used = meter.stop()
                wall = used.pop("wall")
                out = done.stdout
    result = json.loads(out)
    if "cpu_s" in result:  # without the load generator's interpreter start
        used["loadgen"], wall = result["cpu_s"], result["run_s"]
    if kind == "batch":  # per 1,000 events
        result["completed"] = result["accepted"] + result["duplicates"]
        result["events_per_s"] = round(result["completed"] / result["elapsed_s"])
    # The open-loop steps' 100 warm-up requests are served inside the measurement too.
    done = max(1, result["completed"] + len(spec.get("warmup", [])))
    return {
        "kind": kind,
        "backend": backend,
        "rate": rate,
        "workers": workers,
        "wall_s": round(wall, 2),
        "completed": result["completed"],
        "statuses": result.get("statuses"),
        "p50_ms": round(result["p50_ms"], 1),
        "p99_ms": round(result["p99_ms"], 1),
        # per request; for --kind batch per event (x 1,000 = ms per 1,000 events)
        "cpu_ms_per_request": {k: round(v * 1000 / done, 3) for k, v in used.items()},
        # The service's CPU by thread (thread_seconds: "event loop" is the requests'
        # HTTP side), per request (batches: per event).
        "service_ms_per_request_by_thread": {
            role: round(cpu * 1000 / done, 3) for role, cpu in sorted(threads.items()) if cpu > 0
        },
        "cpu_share_of_2_cores": {k: round(v / wall / 2, 3) for k, v in used.items()},
        **(
            {
                "events_per_s": result["events_per_s"],
                "raw_insert": {k: round(v) for k, v in raw.items()},
                "ratio_to_raw": round(result["events_per_s"] / max(raw.values()), 3),
            }
            if kind == "batch"
            else {}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=("ingest", "check", "batch"), default="check")
    parser.add_argument(
        "--rate", type=int, default=500, help="requests/s; for --kind batch: the batch size"
    )
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument(
        "--events", type=int, default=30_000, help="--kind batch: events in all (make bench's)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument(
        "--set", action="append", default=[], metavar="BILLING_X=VALUE", help="service setting"
    )
    parser.add_argument(
        "--prefer-minimal",
        action="store_true",
        help="send Prefer: return=minimal (the short answer of POST /v1/usage)",
    )
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.set)
    headers = {"Prefer": "return=minimal"} if args.prefer_minimal else {}
    result = run(
        args.kind,
        args.rate,
        args.seconds,
        args.workers,
        settings,
        headers,
        args.backend,
        args.events,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
