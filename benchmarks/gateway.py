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

Side by side with the LiteLLM proxy when ``BENCH_LITELLM`` names its ``litellm``
executable (installed in a venv of its own, e.g. ``python -m venv /tmp/litellm-venv
&& /tmp/litellm-venv/bin/pip install 'litellm[proxy]'``; never in billing's):
one worker, no database, pointed at the same upstream. Both are measured alike:
CPU per call, calls/s closed loop (CONCURRENCY clients), and the latency added
at a few open-loop rates. Without it the comparison is skipped with a note.
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
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from testkit import databases
from testkit.live import Server, free_port, stop_process

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
        stop_process(process)


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


CONCURRENCY = 32  # closed-loop clients for the calls/s figures
LITELLM_RATES = (10.0, 50.0, 200.0)
LITELLM_KEY = "sk-bench-0123456789abcdef0123456789abcdef"
LITELLM_CONFIG = """
model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: {upstream}/v1
      api_key: bench-upstream-key-0123
"""


async def _closed_loop(url: str, seconds: float, headers: Any) -> dict[str, Any]:
    """CONCURRENCY clients, each sending its next call when the last one is answered."""
    body = json.dumps(BODY).encode()
    done: list[int] = [0]
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(offset: int) -> None:
            index = offset
            while time.perf_counter() < deadline:
                async with session.post(url, data=body, headers=headers(index)) as answer:
                    await answer.read()
                    statuses[answer.status] = statuses.get(answer.status, 0) + 1
                done[0] += 1
                index += CONCURRENCY

        start = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(CONCURRENCY)), return_exceptions=True)
        elapsed = time.perf_counter() - start
    return {
        "completed": done[0],
        "calls_per_s": done[0] / elapsed,
        "statuses": {str(k): v for k, v in statuses.items()},
    }


def _measured(pid: int, step: Coroutine[Any, Any, dict[str, Any]]) -> tuple[dict[str, Any], float]:
    """``step``'s result, and the CPU ms per call the process tree ``pid`` used in it."""
    before = _tree_cpu_seconds(pid)
    result = asyncio.run(step)
    return result, (_tree_cpu_seconds(pid) - before) * 1000 / max(1, result["completed"])


@contextmanager
def litellm_proxy(executable: str, provider: str, workdir: Path) -> Iterator[tuple[str, int]]:
    """The LiteLLM proxy (one worker, no database) in front of ``provider``: its
    chat completions URL and process id."""
    config = workdir / "litellm.yaml"
    config.write_text(LITELLM_CONFIG.format(upstream=provider), encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": LITELLM_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no download at start (tests stay offline)
        "LITELLM_LOG": "ERROR",
    }
    env.pop("DATABASE_URL", None)
    log = open(workdir / "litellm.log", "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [executable, "--config", str(config), "--port", str(port), "--num_workers", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                answer = httpx.post(url, json=BODY, headers=_litellm(0), timeout=5)
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the LiteLLM proxy did not start (see {log.name})")
            time.sleep(0.5)
        yield url, process.pid
    finally:
        stop_process(process)
        log.close()


def _litellm(_: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {LITELLM_KEY}", "Content-Type": "application/json"}


def side_by_side(
    provider: str, gateway: str, server_pid: int, workdir: Path, seconds: float
) -> dict[str, Any]:
    """Billing's gateway and the LiteLLM proxy measured alike (see the module's doc)."""
    executable = os.environ.get("BENCH_LITELLM", "")
    if not executable:
        return {"skipped": "no LiteLLM: set BENCH_LITELLM=/path/to/venv/bin/litellm"}
    direct = f"{provider}/v1/chat/completions"
    out: dict[str, Any] = {}
    with litellm_proxy(executable, provider, workdir) as (litellm, pid):
        asyncio.run(_open_loop(litellm, 20, 2, _litellm, False))  # warm
        targets = (("billing", gateway, _headers, server_pid), ("litellm", litellm, _litellm, pid))
        for name, url, headers, process in targets:
            closed, cpu = _measured(process, _closed_loop(url, seconds, headers))
            out[name] = {"closed_loop": closed, "cpu_ms_per_call_closed_loop": cpu, "rates": {}}
        for rate in LITELLM_RATES:
            base = asyncio.run(_open_loop(direct, rate, seconds, _direct, False))
            for name, url, headers, process in targets:
                step, cpu = _measured(process, _open_loop(url, rate, seconds, headers, False))
                out[name]["rates"][f"{rate:.0f}"] = {
                    "added_p50_ms": step["p50_ms"] - base["p50_ms"],
                    "added_p99_ms": step["p99_ms"] - base["p99_ms"],
                    "achieved_rps": step["achieved_rps"],
                    "cpu_ms_per_call": cpu,
                    "statuses": step["statuses"],
                }
    out["throughput_ratio"] = out["billing"]["closed_loop"]["calls_per_s"] / max(
        1e-9, out["litellm"]["closed_loop"]["calls_per_s"]
    )
    return out


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
            try:
                out["litellm"] = side_by_side(
                    provider, gateway, server.process.pid, workdir, min(seconds, 5.0)
                )
            except Exception as exc:  # the comparison is optional: report, keep the rest
                out["litellm"] = {"failed": f"{type(exc).__name__}: {exc}"}
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
        *_litellm_rows(result.get("litellm") or {}, label),
    ]  # fmt: skip


def _litellm_rows(side: dict[str, Any], label: str) -> list[list[str]]:
    if "throughput_ratio" not in side:
        text = side.get("failed") or side.get("skipped") or "not run"
        return [["gateway vs LiteLLM proxy", label, text, "", ""]]
    billing, litellm = side["billing"], side["litellm"]

    def added(which: dict[str, Any]) -> str:
        return ", ".join(
            f"{rate}/s +{step['added_p50_ms']:.1f}/+{step['added_p99_ms']:.1f}"
            for rate, step in which["rates"].items()
        )

    def cpu(which: dict[str, Any]) -> str:
        return f"{which['cpu_ms_per_call_closed_loop']:.2f}"

    ratio = side["throughput_ratio"]
    return [
        [f"gateway vs LiteLLM calls/s closed loop ({CONCURRENCY} clients)", label,
         f"billing {billing['closed_loop']['calls_per_s']:.0f}, LiteLLM"
         f" {litellm['closed_loop']['calls_per_s']:.0f} ({ratio:.1f}x); CPU ms a call billing"
         f" {cpu(billing)}, LiteLLM {cpu(litellm)}",
         ">= 5x LiteLLM", "yes" if ratio >= 5 else "**no**"],
        ["gateway vs LiteLLM added p50/p99 ms", label,
         f"billing {added(billing)}; LiteLLM {added(litellm)}", "", ""],
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
