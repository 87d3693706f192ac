"""The gateway's cost over calling the provider directly (``make bench`` phase,
or alone: ``python -m benchmarks.gateway [--backend postgres|sqlite] [--seconds N]``).

A fast local provider (benchmarks/gateway_upstream.py, its own uvicorn
process) and ``billing serve`` (one worker) whose config points an endpoint at
it. The same open-loop load goes to the provider directly, then through the
gateway; the difference of the latency percentiles is what the gateway adds
(its hold before forwarding and its record after, each one database
transaction, plus the proxying). Streams: time to the first chunk, directly
and through the gateway. CPU: the ``billing serve`` processes' CPU time over
the gateway step, per call (the database server's own CPU is not in it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from testkit import databases
from testkit.live import Server, free_port

KEY = "bench-gateway-key-0123456789"
USERS = 500
CONFIG = """
version: 1.2.8
balance:
  enabled: true
  startBalance: 100000000
endpoints:
  custom:
    - name: Bench
      apiKey: bench-upstream-key-0123
      baseURL: {upstream}/v1
      models:
        default: [bench-model]
      tokenConfig:
        bench-model: {{prompt: 1, completion: 5, context: 128000}}
"""
BODY = {
    "model": "bench-model",
    "max_tokens": 200,
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Say hello in one short sentence, please."},
    ],
}


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _summary(latencies: list[float]) -> dict[str, float]:
    return {
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p95_ms": _percentile(latencies, 0.95) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
    }


@contextmanager
def upstream() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "benchmarks.gateway_upstream:app", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.post(f"{base}/v1/chat/completions", json=BODY, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the benchmark upstream did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _tree_cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        total += times.get(current, 0.0)
        pending += children.get(current, [])
    return total


async def _open_loop(
    url: str, rate: float, seconds: float, headers: Any, stream: bool
) -> dict[str, Any]:
    """``rate`` requests a second for ``seconds``; latency from each request's scheduled
    start to its last byte, and (streams) to its first body chunk."""
    total = int(rate * seconds)
    body = json.dumps({**BODY, "stream": True} if stream else BODY).encode()
    latencies: list[float] = []
    first_chunks: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(index: int, scheduled: float) -> None:
            sent_headers = headers(index)
            async with session.post(url, data=body, headers=sent_headers) as answer:
                if stream:
                    await answer.content.readany()
                    first_chunks.append(time.perf_counter() - scheduled)
                await answer.read()
                statuses[answer.status] = statuses.get(answer.status, 0) + 1
            latencies.append(time.perf_counter() - scheduled)

        tasks = []
        start = time.perf_counter()
        for index in range(total):
            scheduled = start + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, scheduled)))
        await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = time.perf_counter() - start
    result: dict[str, Any] = {
        "requests": total,
        "completed": len(latencies),
        "achieved_rps": len(latencies) / elapsed if elapsed else 0.0,
        "statuses": {str(k): v for k, v in statuses.items()},
        **_summary(latencies),
    }
    if stream:
        result["first_chunk"] = _summary(first_chunks)
    return result


def _headers(index: int) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {KEY}",
        "Content-Type": "application/json",
        "X-Billing-User-Id": f"bench-user-{index % USERS}",
        "X-Billing-Conversation-Id": f"conv-{index % 97}",
        "X-Billing-Message-Id": f"msg-{index}",
    }


def _direct(_: int) -> dict[str, str]:
    return {"Authorization": "Bearer bench-upstream-key-0123", "Content-Type": "application/json"}


def run_phase(database_url: str, workdir: Path, seconds: float = 10.0) -> dict[str, Any]:
    """The gateway phase against a migrated database at ``database_url``."""
    rate, stream_rate = 200.0, 50.0
    out: dict[str, Any] = {"rate": rate, "stream_rate": stream_rate, "seconds": seconds}
    with upstream() as provider:
        config = workdir / "gateway-bench.yaml"
        config.write_text(CONFIG.format(upstream=provider), encoding="utf-8")
        env = {"BILLING_API_KEYS": f"{KEY}:gateway", "BILLING_LOG_LEVEL": "WARNING"}
        log = workdir / "serve-gateway.log"
        with Server(database_url, config=config, workers=1, env=env, log_path=log) as server:
            gateway = f"{server.base}/gateway/Bench/v1/chat/completions"
            direct = f"{provider}/v1/chat/completions"
            # Warm both paths (connections, first-sight balances of the users).
            asyncio.run(_open_loop(gateway, 100, USERS / 100, _headers, False))
            asyncio.run(_open_loop(direct, 100, 2, _direct, False))
            out["direct"] = asyncio.run(_open_loop(direct, rate, seconds, _direct, False))
            cpu_before = _tree_cpu_seconds(server.process.pid)
            out["gateway"] = asyncio.run(_open_loop(gateway, rate, seconds, _headers, False))
            cpu = _tree_cpu_seconds(server.process.pid) - cpu_before
            out["cpu_ms_per_call"] = cpu * 1000 / max(1, out["gateway"]["completed"])
            out["direct_stream"] = asyncio.run(
                _open_loop(direct, stream_rate, seconds, _direct, True)
            )
            out["gateway_stream"] = asyncio.run(
                _open_loop(gateway, stream_rate, seconds, _headers, True)
            )
    out["added_p50_ms"] = out["gateway"]["p50_ms"] - out["direct"]["p50_ms"]
    out["added_p99_ms"] = out["gateway"]["p99_ms"] - out["direct"]["p99_ms"]
    out["first_chunk_added_p50_ms"] = (
        out["gateway_stream"]["first_chunk"]["p50_ms"]
        - out["direct_stream"]["first_chunk"]["p50_ms"]
    )
    return out


def rows(result: dict[str, Any], label: str) -> list[list[str]]:
    """Table rows (benchmarks/table.py) with the issue's targets."""
    if "added_p50_ms" not in result:
        text = result.get("failed") or result.get("skipped") or "not run"
        return [["metering gateway", label, text, "", ""]]

    def mark(ok: bool) -> str:
        return "yes" if ok else "**no**"

    g, d = result["gateway"], result["direct"]
    gs, ds = result["gateway_stream"]["first_chunk"], result["direct_stream"]["first_chunk"]
    rate = f"{result['rate']:.0f} req/s"
    return [
        [f"gateway added latency @ {rate}", label,
         f"p50 +{result['added_p50_ms']:.2f} / p99 +{result['added_p99_ms']:.2f} ms (gateway p50"
         f" {g['p50_ms']:.2f} / p99 {g['p99_ms']:.2f}, direct p50 {d['p50_ms']:.2f} / p99"
         f" {d['p99_ms']:.2f}; {g['statuses']})",
         "p50 <= 1 ms, p99 <= 5 ms",
         mark(result["added_p50_ms"] <= 1 and result["added_p99_ms"] <= 5)],
        [f"gateway stream first chunk @ {result['stream_rate']:.0f} req/s", label,
         f"+{result['first_chunk_added_p50_ms']:.2f} ms p50 (gateway {gs['p50_ms']:.2f},"
         f" direct {ds['p50_ms']:.2f})",
         "p50 <= 2 ms", mark(result["first_chunk_added_p50_ms"] <= 2)],
        ["gateway CPU per call", label, f"{result['cpu_ms_per_call']:.2f} ms", "<= 2 ms",
         mark(result["cpu_ms_per_call"] <= 2)],
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="postgres", choices=("postgres", "sqlite"))
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="billing-gw-bench-") as tmp:
        workdir = Path(tmp)
        if args.backend == "postgres":
            database = databases.postgres_database()
        else:
            database = databases.sqlite_database(workdir)
        with database as url:
            result = run_phase(url, workdir, args.seconds)
    print(json.dumps(result, indent=2))
    for row in rows(result, args.backend):
        print(" | ".join(row))
    return 0


if __name__ == "__main__":
    random.seed(0)
    sys.exit(main())
