"""The app's own CPU per hot request, in process (not part of the test suite).

    .venv/bin/python -m benchmarks.asgi_cpu [--kind ingest|check] [--requests 4000]
        [--in-flight 8] [--rounds 3] [--api-key]

The real app (create_app) over a fresh PostgreSQL database, called as uvicorn
calls it (one ASGI call per request: scope, receive, send; no sockets, no HTTP
client), on uvloop, ``--in-flight`` requests at a time with the bodies of
``make bench``'s single-event steps. It prints per request the event loop's
CPU (the request's HTTP side: the front, routing, auth, decoding, pricing,
the answer) and the whole process's (the group commit's thread added), so
that a change to the HTTP side is measured without the load generator, the
server's sockets and PostgreSQL competing for the same 2 cores
(``benchmarks/cpu_split.py`` measures all of it over HTTP).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from fastapi import FastAPI

from benchmarks.phases import _single_bodies
from benchmarks.traffic import write_config
from billing.api.hot_path import HotPath
from billing.main import create_app
from billing.settings import Settings
from testkit.databases import postgres_database

API_KEY = "bench-key-0123456789abcdef"
_match = HotPath.match


def _no_match(self: HotPath, scope: dict[str, Any]) -> None:
    return None


def _scope(path: str, body: bytes, key: bool) -> dict[str, Any]:
    headers = [
        (b"host", b"127.0.0.1:8080"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if key:
        headers.append((b"authorization", b"Bearer " + API_KEY.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "state": {},
    }


async def _one(app: FastAPI, path: str, body: bytes, key: bool) -> int:
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # as uvicorn: nothing more until a disconnect
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope(path, body, key), receive, send)
    return status


async def _run(app: FastAPI, requests: list[tuple[str, bytes]], in_flight: int, key: bool) -> None:
    pending = list(reversed(requests))

    async def worker() -> None:
        while pending:
            path, body = pending.pop()
            status = await _one(app, path, body, key)
            assert status == 200, (status, path, body)

    await asyncio.gather(*(worker() for _ in range(in_flight)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("ingest", "check"), default="ingest")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--api-key", action="store_true", help="configure a key and send it")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="alternate rounds with and without the hot path (billing/api/hot_path.py)",
    )
    args = parser.parse_args()
    config = write_config(Path(tempfile.mkdtemp()))
    with postgres_database("billing_asgi_cpu") as url:
        keys = {"api_keys": f"{API_KEY}:ingest"} if args.api_key else {}
        app = create_app(Settings(database_url=url, config=config, **keys))  # type: ignore[arg-type]
        loop = uvloop.new_event_loop()
        try:
            for run in range(args.rounds + 1):  # the first round warms up (first sight)
                hot = not args.compare or run % 2 == 1
                HotPath.match = _match if hot else _no_match  # type: ignore[method-assign]
                paths, bodies = _single_bodies(args.kind, args.requests, seed=run)
                requests = [(p, b.encode()) for p, b in zip(paths, bodies, strict=True)]
                thread, process = time.thread_time(), time.process_time()
                loop.run_until_complete(_run(app, requests, args.in_flight, args.api_key))
                thread, process = time.thread_time() - thread, time.process_time() - process
                if run:
                    n, off = len(requests), "" if hot else " (hot path off)"
                    print(
                        f"{args.kind}{off}: event loop {thread / n * 1e6:6.1f} us/request,"
                        f" process {process / n * 1e6:6.1f} us/request"
                    )
        finally:
            loop.close()
            app.state.runtime.close()


if __name__ == "__main__":
    main()
