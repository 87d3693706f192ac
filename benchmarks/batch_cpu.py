"""CPU of a batch request's Python work, part by part, in one process (no HTTP).

``python -m benchmarks.batch_cpu [--backend postgresql|sqlite] [--batch 1000]
[--rounds 30] [--profile FILE] [--instructions]`` records, on a fresh migrated database with
the make-bench users seen once, ``rounds`` batches of the make-bench batch
phase's traffic (2% repeated event ids) the way a worker does: the fast
decoder on the body's bytes, ``prepare_events``, one group-commit transaction
(``record_requests``) and the minimal answer. It prints the median thread CPU
of each part per batch (ms) and their sum. ``--profile`` writes a cProfile of
the measured rounds (``python -m pstats FILE``). ``--instructions`` runs it
under valgrind's callgrind instead and prints the instructions each part
executed per batch (millions): the same count whatever else the machine runs.

For A/B of a change: run it on both revisions alternately, several rounds
each, and compare (thread CPU on a machine shared with other work varies by
tens of percent from run to run; instruction counts by well under 1%).
"""

from __future__ import annotations

import argparse
import cProfile
import ctypes
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, cast

import orjson

from benchmarks.traffic import Traffic, write_config
from billing.group_commit import run_transaction
from billing.main import GC_THRESHOLDS
from billing.runtime import Runtime
from billing.settings import Settings
from billing.usage import service
from billing.usage.fast_body import decode_usage
from billing.usage.schemas import UsageEventIn, usage_minimal_answer
from testkit import databases

WARMUP = 5
PARTS = ("decode", "prepare", "transaction", "answer")

# Callgrind's client requests (valgrind/callgrind.h), for --instructions: macros,
# so a few lines of C compiled on the spot make them callable.
_CALLGRIND_C = """
#include <valgrind/callgrind.h>
void start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
"""
_CALLGRIND_ENV = "BILLING_BATCH_CPU_CALLGRIND"  # the compiled helper, in the child run


def _database(backend: str, directory: Path) -> AbstractContextManager[str]:
    if backend == "postgresql":
        return databases.postgres_database("billing_batch_cpu")
    return databases.sqlite_database(directory)


def _prime(runtime: Runtime, users: list[str]) -> None:
    """Every user seen once: first sight (startBalance) is not what is measured."""
    for start in range(0, len(users), 500):
        body = orjson.dumps(
            {
                "events": [
                    {"event_id": f"prime-{u}", "user_id": u, "endpoint": "openAI",
                     "model": "gpt-4o-mini", "tokens": {"prompt": 1}}
                    for u in users[start : start + 500]
                ]
            }
        )  # fmt: skip
        _one(runtime, body)


def _one(
    runtime: Runtime,
    body: bytes,
    times: dict[str, list[float]] | None = None,
    mark: Callable[[str], None] | None = None,
) -> None:
    """One batch request's work; each part's thread CPU appended to ``times``
    (``mark(part)`` called at the end of each)."""
    clock = time.thread_time
    mark = mark or (lambda part: None)
    start = clock()
    events = decode_usage(body)
    assert isinstance(events, list)
    mark("decode")
    decoded = clock()
    snapshot = runtime.snapshot
    priced = service.prepare_events(
        snapshot, cast(list[UsageEventIn], events), runtime.clock(), batch=True
    )
    mark("prepare")
    prepared = clock()
    now = runtime.clock()
    [outcomes] = run_transaction(
        runtime.sessions, lambda s: service.record_requests(s, snapshot, [priced], now)
    )
    mark("transaction")
    recorded = clock()
    assert isinstance(outcomes, list)
    orjson.dumps(usage_minimal_answer(priced, outcomes))
    mark("answer")
    answered = clock()
    if times is not None:
        marks = (start, decoded, prepared, recorded, answered)
        for part, before, after in zip(PARTS, marks, marks[1:], strict=False):
            times[part].append(after - before)


def run(backend: str, batch: int, rounds: int, profile: str | None) -> dict[str, Any]:
    traffic = Traffic(seed=batch)
    bodies = [orjson.dumps({"events": traffic.events(batch)}) for _ in range(rounds + WARMUP)]
    times: dict[str, list[float]] = {part: [] for part in PARTS}
    with tempfile.TemporaryDirectory(prefix="billing-batch-") as tmp:
        directory = Path(tmp)
        config = write_config(directory)
        with _database(backend, directory) as url:
            runtime = Runtime(Settings(database_url=url, config=config))
            try:
                _prime(runtime, traffic.users)
                gc.collect()  # as billing serve after start-up (billing/main.py)
                gc.freeze()
                gc.set_threshold(*GC_THRESHOLDS)
                for body in bodies[:WARMUP]:
                    _one(runtime, body)
                profiler = cProfile.Profile(time.thread_time) if profile else None
                if profiler is not None:
                    profiler.enable()
                mark = None
                helper = os.environ.get(_CALLGRIND_ENV)
                if helper:
                    callgrind = ctypes.CDLL(helper)
                    callgrind.start()
                    mark = lambda part: callgrind.dump(part.encode())  # noqa: E731
                for body in bodies[WARMUP:]:
                    _one(runtime, body, times, mark)
                if profiler is not None and profile:
                    profiler.disable()
                    profiler.dump_stats(profile)
            finally:
                runtime.close()
    medians = {part: round(statistics.median(t) * 1000, 3) for part, t in times.items()}
    totals = [sum(parts) for parts in zip(*times.values(), strict=True)]
    return {
        "backend": backend,
        "batch": batch,
        "rounds": rounds,
        "ms_per_batch": medians,
        "total_ms": round(statistics.median(totals) * 1000, 3),
    }


def instructions(argv: list[str], rounds: int) -> dict[str, Any]:
    """This benchmark under callgrind: instructions per batch of each part (millions)."""
    with tempfile.TemporaryDirectory(prefix="billing-callgrind-") as tmp:
        source, helper = Path(tmp, "callgrind.c"), Path(tmp, "callgrind.so")
        source.write_text(_CALLGRIND_C)
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(helper), str(source)], check=True)
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no",
             f"--callgrind-out-file={tmp}/out", sys.executable, "-m", "benchmarks.batch_cpu",
             *argv],
            check=True, env={**os.environ, _CALLGRIND_ENV: str(helper)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        counts: dict[str, int] = dict.fromkeys(PARTS, 0)
        for dump in Path(tmp).glob("out.*"):
            text = dump.read_text(errors="replace")
            part = re.search(r"^desc: Trigger: Client Request: (\w+)", text, re.M)
            total = re.search(r"^totals: (\d+)", text, re.M)
            if part and total and part.group(1) in counts:
                counts[part.group(1)] += int(total.group(1))
    per_batch = {part: round(n / rounds / 1e6, 3) for part, n in counts.items()}
    return {"million_instructions_per_batch": per_batch,
            "total": round(sum(per_batch.values()), 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--profile", help="write a cProfile of the measured rounds here")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions under callgrind"
    )
    args = parser.parse_args()
    if args.instructions:
        argv = [a for a in sys.argv[1:] if a != "--instructions"]
        result = {"rounds": args.rounds, **instructions(argv, args.rounds)}
    else:
        result = run(args.backend, args.batch, args.rounds, args.profile)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
