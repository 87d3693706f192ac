"""The load generator: a real HTTP client in its own process (asyncio + aiohttp).

``python -m benchmarks.loadgen SPEC.json`` runs one measurement and prints its
result as JSON on stdout. Two modes, both bounded in count and time:

- ``closed``: post every body with ``concurrency`` requests in flight; the
  throughput of the whole set (batch ingest).
- ``open``: open-loop pacing at ``rate`` requests/s for the given bodies;
  latency is measured from each request's *scheduled* start, so a server that
  falls behind is charged for the queueing it causes (no coordinated omission).

``headers`` (optional): extra request headers, e.g. ``{"Prefer": "return=minimal"}``
for the short answer of POST /v1/usage.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

HEADERS = {"content-type": "application/json"}
# aiohttp, not httpx: at 500 req/s an httpx client used a whole core by itself
# (benchmarks/cpu_split.py), so the figures measured the client, not the service.
ClientError = (aiohttp.ClientError, asyncio.TimeoutError)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def _summary(latencies: list[float]) -> dict[str, float]:
    values = sorted(latencies)
    return {
        "p50_ms": percentile(values, 0.50) * 1000,
        "p95_ms": percentile(values, 0.95) * 1000,
        "p99_ms": percentile(values, 0.99) * 1000,
        "max_ms": (values[-1] * 1000) if values else float("nan"),
    }


async def _post(client: aiohttp.ClientSession, path: str, body: bytes) -> tuple[int, bytes]:
    async with client.post(path, data=body) as response:
        return response.status, await response.read()


async def _closed(client: aiohttp.ClientSession, spec: dict[str, Any]) -> dict[str, Any]:
    bodies: list[bytes] = [b.encode() for b in spec["bodies"]]
    queue = list(reversed(bodies))
    statuses: dict[int, int] = {}
    totals = {"accepted": 0, "duplicates": 0}
    errors: dict[str, int] = {}
    latencies: list[float] = []
    deadline = time.monotonic() + spec["timeout_s"]

    async def worker() -> None:
        while queue and time.monotonic() < deadline:
            body = queue.pop()
            start = time.perf_counter()
            try:
                status, content = await _post(client, spec["path"], body)
            except ClientError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            latencies.append(time.perf_counter() - start)
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                data = orjson.loads(content)
                totals["accepted"] += data.get("accepted", 0)
                totals["duplicates"] += data.get("duplicates", 0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
    elapsed = time.perf_counter() - start
    return {
        "requests": sum(statuses.values()),
        "unsent": len(queue),
        "elapsed_s": elapsed,
        "statuses": statuses,
        "errors": errors,
        **totals,
        **_summary(latencies),
    }


async def _open(client: aiohttp.ClientSession, spec: dict[str, Any]) -> dict[str, Any]:
    rate: float = spec["rate"]
    bodies: list[bytes] = [b.encode() for b in spec["bodies"]]
    paths: list[str] = spec.get("paths") or [spec["path"]] * len(bodies)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: dict[str, int] = {}

    async def one(path: str, body: bytes, scheduled: float) -> None:
        try:
            status, _ = await _post(client, path, body)
        except ClientError as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return
        latencies.append(time.perf_counter() - scheduled)
        statuses[status] = statuses.get(status, 0) + 1

    tasks = []
    start = time.perf_counter()
    for index, body in enumerate(bodies):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(paths[index], body, scheduled)))
    sent = time.perf_counter() - start
    _done, pending = await asyncio.wait(tasks, timeout=spec["drain_s"]) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    elapsed = time.perf_counter() - start
    return {
        "rate": rate,
        "requests": len(bodies),
        "completed": len(latencies),
        "timed_out": len(pending),
        "send_s": sent,
        "elapsed_s": elapsed,
        "achieved_rps": len(latencies) / elapsed if elapsed else 0.0,
        "statuses": statuses,
        "errors": errors,
        **_summary(latencies),
    }


async def _reserve_settle(client: aiohttp.ClientSession, spec: dict[str, Any]) -> dict[str, Any]:
    """Reserve, then settle with the real event; latency of the pair, ``concurrency`` in flight."""
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = [tuple(p) for p in spec["pairs"]]
    queue = list(reversed(pairs))
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    deadline = time.monotonic() + spec["timeout_s"]

    def count(key: str) -> None:
        statuses[key] = statuses.get(key, 0) + 1

    async def worker() -> None:
        while queue and time.monotonic() < deadline:
            reserve, event = queue.pop()
            start = time.perf_counter()
            try:
                status, content = await _post(client, "/v1/reservations", orjson.dumps(reserve))
                count(f"reserve {status}")
                if status not in (200, 201):
                    continue
                event["reservation_id"] = orjson.loads(content)["reservation_id"]
                status, _ = await _post(client, "/v1/usage", orjson.dumps(event))
            except ClientError as exc:
                count(type(exc).__name__)
                continue
            count(f"settle {status}")
            if status == 200:
                latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
    elapsed = time.perf_counter() - start
    return {
        "round_trips": len(latencies),
        "elapsed_s": elapsed,
        "round_trips_per_s": len(latencies) / elapsed if elapsed else 0.0,
        "statuses": statuses,
        **_summary(latencies),
    }


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=spec.get("connections", 64))
    timeout = aiohttp.ClientTimeout(total=spec.get("request_timeout_s", 30.0))
    async with aiohttp.ClientSession(
        base_url=spec["base"],
        connector=connector,
        timeout=timeout,
        headers={**HEADERS, **spec.get("headers", {})},
    ) as client:
        for path, body in spec.get("warmup", []):  # open connections, warm the workers
            await _post(client, path, body.encode())
        if spec["mode"] == "closed":
            return await _closed(client, spec)
        if spec["mode"] == "reserve_settle":
            return await _reserve_settle(client, spec)
        return await _open(client, spec)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # plain asyncio works too, only slower
        pass
    began, cpu_began = time.perf_counter(), time.process_time()
    result = asyncio.run(run(spec))
    # Its own CPU and time for the measurement, without the interpreter's start
    # (benchmarks/cpu_split).
    result["cpu_s"] = time.process_time() - cpu_began
    result["run_s"] = time.perf_counter() - began
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
