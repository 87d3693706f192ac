"""Console page latency over a large database (not part of the test suite).

    .venv/bin/python -m benchmarks.console [--users 100000] [--rows 1000000] [--calls 10]

Builds a fresh PostgreSQL database with set-based SQL (benchmarks/console_data.py:
100,000 users and a million ledger rows by default), starts a real `billing serve`
on it, signs in to the console over HTTP and times each page; prints one line
per page (p50 / max) and, with --json, writes the figures. The target is every
page under 300 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from benchmarks import console_data
from testkit.databases import postgres_database, postgres_reachable
from testkit.live import live_server

ADMIN_KEY = "bench-console-admin-key-0001"
TARGET_MS = 300.0


def _typical(url: str, users: int) -> tuple[str, str]:
    """A user from the middle of the id range that has usage, and one of their conversations."""
    engine = create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT user_id, conversation_id FROM ledger_entry WHERE user_id >= :start"
                " AND conversation_id IS NOT NULL ORDER BY user_id LIMIT 1"
            ),
            {"start": console_data.user_id(users // 20)},
        ).one()
    engine.dispose()
    return str(row[0]), str(row[1])


def _pages(users: int, typical: str, conversation: str) -> dict[str, str]:
    heavy = console_data.user_id(0)  # the cubed draw gives user 0 the most traffic
    return {
        "overview": "/console",
        "users by id": "/console/users",
        "users by spend": "/console/users?sort=spend",
        "users by balance": "/console/users?sort=balance",
        "users, id prefix": "/console/users?q=user-0123",
        "users by spend, prefix": "/console/users?sort=spend&q=user-09",
        "user (heaviest)": f"/console/user?id={heavy}",
        "user (typical)": f"/console/user?id={typical}",
        "conversation (typical)": f"/console/conversation?id={conversation}",
        "conversation (heaviest user)": "/console/conversation?id=conv-0-3",
        "pricing": "/console/pricing",
    }


def _sign_in(client: httpx.Client) -> None:
    form = client.get("/console/login")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    done = client.post("/console/login", data={"api_key": ADMIN_KEY, "csrf_token": token})
    if done.status_code != 200 or "<h1>Overview</h1>" not in done.text:
        raise RuntimeError(f"sign-in failed: {done.status_code} {done.text[:300]}")


def _time(client: httpx.Client, path: str, calls: int) -> dict[str, Any]:
    timings = []
    size = 0
    for _ in range(calls):
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
        size = len(response.content)
    return {
        "p50_ms": round(statistics.median(timings), 1),
        "max_ms": round(max(timings), 1),
        "bytes": size,
    }


def run(users: int, rows: int, calls: int) -> dict[str, Any]:
    reason = postgres_reachable()
    if reason is not None:
        return {"skipped": f"PostgreSQL not reachable ({reason})"}
    out: dict[str, Any] = {"users": users, "ledger_rows": rows, "target_ms": TARGET_MS}
    with postgres_database("billing_console_bench") as url, tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        console_data.build(url, users=users, ledger_rows=rows)
        out["build_s"] = round(time.perf_counter() - started, 1)
        config = Path(tmp) / "librechat.yaml"
        config.write_text("balance:\n  enabled: true\n  startBalance: 20000\n", encoding="utf-8")
        env = {"BILLING_API_KEYS": f"{ADMIN_KEY}:admin", "BILLING_LOG_LEVEL": "WARNING"}
        with (
            live_server(url, config=config, env=env) as base,
            httpx.Client(base_url=base, timeout=60, follow_redirects=True) as client,
        ):
            started = time.perf_counter()
            _sign_in(client)  # lands on the overview: computes the spend ranking cold
            out["first_overview_ms"] = round((time.perf_counter() - started) * 1000, 1)
            pages = {}
            for name, path in _pages(users, *_typical(url, users)).items():
                client.get(path)  # warm: the first call of a page compiles its template
                pages[name] = _time(client, path, calls)
            out["pages"] = pages
    out["slowest_p50_ms"] = max(p["p50_ms"] for p in out["pages"].values())
    return out


def render(result: dict[str, Any]) -> str:
    if "pages" not in result:
        return json.dumps(result)
    lines = [
        f"console over {result['users']:,} users, {result['ledger_rows']:,} ledger rows "
        f"(built in {result['build_s']} s); first overview (cold ranking) "
        f"{result['first_overview_ms']} ms"
    ]
    for name, figures in result["pages"].items():
        flag = "" if figures["p50_ms"] <= TARGET_MS else "  over target"
        lines.append(
            f"  {name:<32} p50 {figures['p50_ms']:>7.1f} ms  max {figures['max_ms']:>7.1f} ms"
            f"  {figures['bytes'] / 1024:>6.0f} KiB{flag}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    result = run(args.users, args.rows, args.calls)
    print(render(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
