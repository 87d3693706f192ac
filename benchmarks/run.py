"""The benchmark suite: ``make bench`` (``python -m benchmarks.run``), ``--quick`` in < 1 minute.

Starts what it needs (a fresh PostgreSQL database on 127.0.0.1:5432 and a
fresh SQLite file, migrated; ``billing serve --workers N`` on 127.0.0.1),
drives it with the load generator in its own process, prints one table and
writes every figure to benchmarks/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from benchmarks import console as console_pages
from benchmarks import floor, gateway, phases
from benchmarks.cpu_split import PartyMeter
from benchmarks.traffic import write_config
from testkit import databases
from testkit.live import live_server

RESULTS = Path(__file__).parent / "results"


@dataclass
class Plan:
    """How much work each phase does (full or quick)."""

    batch_events: int
    raw_events: int
    pricing_events: int
    step_seconds: float
    rates: tuple[int, ...]
    reservation_pairs: int
    single_events: int
    drain_s: float
    workers: int
    backends: tuple[str, ...]
    report_rows: int
    extra_env: dict[str, str] = field(default_factory=dict)
    console_users: int = 0  # the console phase (benchmarks/console.py); 0: skipped
    gateway_seconds: float = 10.0  # each step of the gateway phase (benchmarks/gateway.py)
    floor_rounds: int = 1000  # transactions per group size of the floor phase (benchmarks/floor.py)


def make_plan(args: argparse.Namespace) -> Plan:
    backends = tuple(args.backends.split(","))
    if args.quick:
        return Plan(
            batch_events=2_000,
            raw_events=2_000,
            pricing_events=50_000,
            step_seconds=1.0,
            rates=(200, 500),
            reservation_pairs=50,
            single_events=300,
            drain_s=3,
            workers=args.workers,
            backends=backends,
            report_rows=0,
            gateway_seconds=3.0,
            floor_rounds=100,
        )
    return Plan(
        batch_events=30_000,
        raw_events=30_000,
        pricing_events=200_000,
        step_seconds=4.0,
        rates=(200, 500, 1000, 1500, 2000, 3000),
        reservation_pairs=500,
        single_events=4_000,
        drain_s=15,
        workers=args.workers,
        backends=backends,
        report_rows=args.report_rows,
    )


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_backend(backend: str, plan: Plan, workdir: Path) -> dict[str, Any]:
    if backend == "postgres":
        reason = databases.postgres_reachable()
        if reason is not None:
            return {"skipped": f"PostgreSQL not reachable ({reason})"}
        database = databases.postgres_database()
    else:
        database = databases.sqlite_database(workdir)
    config = write_config(workdir)
    out: dict[str, Any] = {}
    with database as url:
        out["raw_insert"] = guarded(phases.raw_insert, backend, url, config, plan.raw_events)
        log = workdir / f"serve-{backend}.log"
        quiet = {"BILLING_LOG_LEVEL": "WARNING", **plan.extra_env}
        with live_server(url, config=config, workers=plan.workers, log_path=log, env=quiet) as base:
            routes = phases.routes(base)
            # CPU per party (service, PostgreSQL, load generator) inside the run itself.
            meter = PartyMeter(base, make_url(url).database if backend == "postgres" else None)
            # Batches of 1,000 first: the raw insert they are compared with writes the
            # same rows into empty tables, and SQLite's ingest was ~15% slower on the
            # tables the batches of 100 leave (benchmarks/RESULTS.md, "Sixth pass").
            for size in (1000, 100):
                out[f"batch_{size}"] = guarded(
                    phases.batch_ingest, base, size, plan.batch_events, workdir, meter
                )
                phases.wait_idle(base)
            out["single_throughput"] = guarded(
                phases.single_throughput, base, plan.single_events, workdir
            )
            phases.wait_idle(base)
            out["single_ingest"] = guarded(
                phases.rate_steps, base, "ingest", plan.rates, plan.step_seconds, workdir,
                plan.drain_s, meter,
            )  # fmt: skip
            if "/v1/balances/{user_id}/check" in routes:
                out["check"] = guarded(
                    phases.rate_steps, base, "check", plan.rates, plan.step_seconds, workdir,
                    plan.drain_s, meter,
                )  # fmt: skip
            else:
                out["check"] = {"missing": "POST /v1/balances/{user_id}/check is not served"}
            if "/v1/reservations" in routes:
                phases.wait_idle(base)
                out["reservation"] = guarded(
                    phases.reserve_settle, base, plan.reservation_pairs, workdir
                )
            else:
                out["reservation"] = {"missing": "POST /v1/reservations is not served"}
        if backend == "postgres":  # what uvicorn and psycopg cost alone (no server running)
            out["floor"] = guarded(
                floor.run, phases.REFERENCE_RATE, plan.step_seconds, plan.workers,
                plan.floor_rounds,
            )  # fmt: skip
        # Its own server: the config points an endpoint at a local provider.
        out["gateway"] = guarded(gateway.run_phase, url, workdir, plan.gateway_seconds)
        raw = out["raw_insert"]
        # The baseline: binary COPY of the same rows (SQLite: its executemany).
        base_raw = 0.0 if "failed" in raw else raw.get("copy_binary") or max(raw.values())
        for size in (100, 1000):
            batch = out[f"batch_{size}"]
            if "events_per_s" in batch:
                batch["ratio_to_raw"] = batch["events_per_s"] / base_raw if base_raw else 0.0
    if backend == "postgres":  # its own database, loaded with COPY
        out["costs"] = guarded(phases.report_latency, plan.report_rows)
    if backend == "postgres" and plan.console_users:  # its own database, set-based SQL
        rows = plan.console_users * 10
        out["console"] = guarded(console_pages.run, plan.console_users, rows, 10)
    return out


def guarded(phase: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run one phase; a failure is recorded in the results instead of ending the run."""
    try:
        return phase(*args)
    except Exception as exc:  # any failure of a phase is a finding, not the end
        return {"failed": f"{type(exc).__name__}: {exc}"[:1000]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs, under a minute")
    parser.add_argument("--workers", type=int, default=2, help="billing serve --workers")
    parser.add_argument("--backends", default="postgres,sqlite", help="postgres,sqlite")
    parser.add_argument(
        "--report-rows", type=int, default=1_000_000, help="ledger rows for /v1/costs (0: skip)"
    )
    parser.add_argument(
        "--console-users",
        type=int,
        default=0,
        help="time the console's pages over this many users and 10x ledger rows (0: skip)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    plan = make_plan(args)
    plan.console_users = args.console_users
    started = time.perf_counter()
    results: dict[str, Any] = {
        "meta": {
            "commit": _git_commit(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": phases.cpu_count(),
            "workers": plan.workers,
            "quick": args.quick,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            # Other work on the machine skews every figure: record how busy it was.
            "loadavg_start": os.getloadavg()[0],
        },
        "pricing": phases.pricing(plan.pricing_events),
    }
    with tempfile.TemporaryDirectory(prefix="billing-bench-") as tmp:
        workdir = Path(tmp)
        for backend in plan.backends:
            results[backend] = run_backend(backend, plan, workdir)
    results["meta"]["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["meta"]["loadavg_end"] = os.getloadavg()[0]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    from benchmarks.table import render

    print(render(results))
    print(f"\nwritten to {args.output} in {results['meta']['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
