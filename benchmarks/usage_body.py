"""CPU of the request side of POST /v1/usage, per body, in one process (no server).

``python -m benchmarks.usage_body [--events 1000] [--rounds 50]`` prints process
CPU milliseconds per body for: the generic route (StrictJsonBody's parse, then
pydantic), the fast decoder (billing/usage/fast_body.py), and the two answers
(full and ``Prefer: return=minimal``, built and encoded). Bodies are make
bench's traffic (benchmarks/traffic.py). CPU time, not wall time: the figures
hold on a busy machine better than latencies do, but compare runs back to back.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from benchmarks.traffic import Traffic, write_config
from billing.api.json_body import parse_strict_json
from billing.runtime import Runtime
from billing.settings import Settings
from billing.usage.fast_body import decode_usage
from billing.usage.router import _usage_request
from billing.usage.schemas import MAX_EVENTS, usage_answer, usage_minimal_answer
from billing.usage.service import EventOutcome, prepare_events


def cpu_ms(work: Callable[[], object], rounds: int) -> float:
    work()  # warm
    start = time.process_time()
    for _ in range(rounds):
        work()
    return round((time.process_time() - start) / rounds * 1000, 3)


def run(events: int, rounds: int) -> dict[str, Any]:
    raw = orjson.dumps({"events": Traffic().events(events)})

    def generic() -> object:
        return _usage_request.validate_python(parse_strict_json(raw), context={MAX_EVENTS: events})

    with tempfile.TemporaryDirectory(prefix="billing-body-") as tmp:
        folder = Path(tmp)
        settings = Settings(
            database_url=f"sqlite:///{folder / 'unused.db'}", config=write_config(folder)
        )
        runtime = Runtime(settings)
        try:
            decoded = decode_usage(raw)
            assert isinstance(decoded, list), "the traffic body must take the fast path"
            priced = prepare_events(runtime.snapshot, decoded, datetime.now(UTC))  # type: ignore[arg-type]
        finally:
            runtime.close()
    outcomes = [
        EventOutcome(p.event.event_id, "accepted", p.cost_text, 10**12 + len(p.event.user_id))
        for p in priced
    ]
    return {
        "events": events,
        "body_bytes": len(raw),
        "cpu_ms_per_body": {
            "generic parse+validate": cpu_ms(generic, rounds),
            "fast decode": cpu_ms(lambda: decode_usage(raw), rounds),
            "full answer": cpu_ms(lambda: orjson.dumps(usage_answer(outcomes)), rounds),
            "minimal answer": cpu_ms(
                lambda: orjson.dumps(usage_minimal_answer(priced, outcomes)), rounds
            ),
        },
        "answer_bytes": {
            "full": len(orjson.dumps(usage_answer(outcomes))),
            "minimal": len(orjson.dumps(usage_minimal_answer(priced, outcomes))),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(run(args.events, args.rounds), indent=2))


if __name__ == "__main__":
    main()
