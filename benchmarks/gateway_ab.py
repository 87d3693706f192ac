"""Interleaved A/B of the gateway's lone calls between two source trees
(``python -m benchmarks.gateway_ab --base DIR --new DIR [--backend postgres|sqlite]``).

Open-loop latency on a shared machine is mostly queueing for a core; lone
calls are not. Each tree runs its own ``billing serve`` (one worker,
``PYTHONPATH`` = the tree) against one database and the benchmark upstream.
Each round sends, to A then B (then B then A the next round), a block of
sequential calls and a block of sequential streams, and the same calls to the
upstream directly just before. Per block: the server's CPU per call (/proc),
the median added latency (gateway minus direct) and the median added time to
the first stream chunk. The medians of the rounds are printed per side, and
how many rounds B's CPU was the lower.

Make the base tree with e.g. ``git archive HEAD | tar -x -C /tmp/base``; or pass one
tree as both and ``--set-a NAME=VALUE`` for an A/B of a setting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.gateway import BODY, CONFIG, KEY, USERS, _direct, _headers, _tree_cpu_seconds
from benchmarks.gateway import upstream as bench_upstream
from testkit import databases
from testkit.live import Server


async def _sequential(
    url: str, count: int, headers: Callable[[int], dict[str, str]], stream: bool, offset: int
) -> tuple[list[float], list[float]]:
    """``count`` calls one after the other: whole-call and first-chunk seconds."""
    body = json.dumps({**BODY, "stream": True} if stream else BODY).encode()
    whole: list[float] = []
    first: list[float] = []
    async with aiohttp.ClientSession() as session:
        for index in range(offset, offset + count):
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers(index)) as answer:
                if stream:
                    await answer.content.readany()
                    first.append(time.perf_counter() - started)
                await answer.read()
                assert answer.status == 200, answer.status
            whole.append(time.perf_counter() - started)
    return whole, first


def _block(server: Server, direct: str, calls: int, streams: int, offset: int) -> dict[str, float]:
    gateway = f"{server.base}/gateway/Bench/v1/chat/completions"
    pid = server.process.pid
    plain, _ = asyncio.run(_sequential(direct, calls, _direct, False, 0))
    cpu = _tree_cpu_seconds(pid)
    through, _ = asyncio.run(_sequential(gateway, calls, _headers, False, offset))
    cpu_call = (_tree_cpu_seconds(pid) - cpu) * 1000 / calls
    _, plain_first = asyncio.run(_sequential(direct, streams, _direct, True, 0))
    cpu = _tree_cpu_seconds(pid)
    _, first = asyncio.run(_sequential(gateway, streams, _headers, True, offset))
    cpu_stream = (_tree_cpu_seconds(pid) - cpu) * 1000 / streams
    ms = 1000
    return {
        "cpu_call_ms": cpu_call,
        "added_ms": (statistics.median(through) - statistics.median(plain)) * ms,
        "cpu_stream_ms": cpu_stream,
        "first_chunk_added_ms": (statistics.median(first) - statistics.median(plain_first)) * ms,
    }


def run(
    url: str,
    trees: dict[str, Path],
    rounds: int,
    calls: int,
    streams: int,
    side_env: dict[str, dict[str, str]],
) -> None:
    with tempfile.TemporaryDirectory(prefix="billing-gw-ab-") as tmp, bench_upstream() as provider:
        config = Path(tmp) / "gateway-bench.yaml"
        config.write_text(CONFIG.format(upstream=provider), encoding="utf-8")
        env = {"BILLING_API_KEYS": f"{KEY}:gateway", "BILLING_LOG_LEVEL": "WARNING"}
        servers = {
            # PYTHONSAFEPATH: ``python -m billing`` would put the current directory
            # first on sys.path, ahead of PYTHONPATH (a run from inside a tree
            # would serve that tree on both sides).
            side: Server(
                url,
                config=config,
                env={**env, "PYTHONPATH": str(tree), "PYTHONSAFEPATH": "1", **side_env[side]},
            )
            for side, tree in trees.items()
        }
        try:
            direct = f"{provider}/v1/chat/completions"
            for server in servers.values():  # first sight of every user, warm connections
                _block(server, direct, USERS, 20, 0)
            results: dict[str, list[dict[str, float]]] = {side: [] for side in servers}
            for round_ in range(rounds):
                order = list(servers) if round_ % 2 == 0 else list(servers)[::-1]
                for side in order:
                    block = _block(servers[side], direct, calls, streams, round_ * calls)
                    results[side].append(block)
                    print(round_, side, {k: round(v, 3) for k, v in block.items()}, flush=True)
        finally:
            for server in servers.values():
                server.stop()
    base, new = results["A"], results["B"]
    for name in base[0]:
        a = statistics.median(b[name] for b in base)
        b = statistics.median(b[name] for b in new)
        lower = sum(1 for x, y in zip(base, new, strict=True) if y[name] < x[name])
        print(f"{name}: A {a:.3f}  B {b:.3f}  (B lower in {lower} of {rounds})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="tree A")
    parser.add_argument("--new", type=Path, required=True, help="tree B")
    parser.add_argument("--backend", default="postgres", choices=("postgres", "sqlite"))
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument(
        "--set-a",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for side A only (repeatable): with --base and --new"
        " the same tree, an A/B of a setting, e.g. --set-a BILLING_GATEWAY_LEASE_CALLS=0",
    )
    args = parser.parse_args(argv)
    side_env = {"A": dict(item.split("=", 1) for item in args.set_a), "B": {}}
    trees: dict[str, Path] = {"A": args.base.resolve(), "B": args.new.resolve()}
    with tempfile.TemporaryDirectory(prefix="billing-gw-ab-db-") as tmp:
        if args.backend == "postgres":
            database: Any = databases.postgres_database()
        else:
            database = databases.sqlite_database(Path(tmp))
        with database as url:
            run(url, trees, args.rounds, args.calls, args.streams, side_env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
