"""What every request goes through before the app: one pure ASGI middleware.

In this order, outermost first (each rule lives in its own module):

- a trailing slash is dropped before routing and metrics see the path (paths.py);
- the request id, honoured if sane, else generated: set for every log line of the
  request, echoed in the answer, one log line per request (request_id.py);
- the config snapshot is pinned before anything reads it, and every answer
  names it (config_version.py);
- the duration is timed and counted by route template (metrics_http.py), refusals
  of the two body rules below included;
- the body must arrive within its deadline, else 408 (body_timeout.py);
- the body may not exceed the size limit, else 413 (limits.py);
- then the hot routes (single events, the pre-flight check) are answered in raw
  ASGI when their request is plain, and everything else goes to the app
  (hot_path.py).

One layer instead of six that each wrapped ``send`` (and some ``receive``) and
each scanned the headers: a hot request's answer passes one wrapper, and the
head is read once (cpu_split --kind check: see benchmarks/RESULTS.md).

It is the app's outermost layer (``front_first`` below, from billing/main.py),
outside FastAPI's own (its ServerErrorMiddleware, telemetry and body-limit
layers): so an unexpected error's 500 carries the request id and config
version too, and a hot request passes none of them (~10-20 us less of the
event loop's CPU a request, in process). An inner layer may answer a body
that failed a rule below (ServerErrorMiddleware answers 500 to any
exception): that answer is dropped and the rule's own (408, 413) is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billing import metrics
from billing.api import request_id as ids
from billing.api.body_timeout import BodyTimedOut, BodyWatchdog, has_body
from billing.api.config_version import SNAPSHOT, VersionHeader
from billing.api.hot_path import HotPath
from billing.api.limits import BodyTooLarge, declares_too_much, too_large_answer
from billing.api.metrics_http import RequestMetrics
from billing.api.paths import without_trailing_slash
from billing.logging_setup import request_id_var
from billing.runtime import Runtime

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


class HttpFront:
    def __init__(
        self,
        app: ASGIApp,
        *,
        runtime: Runtime,
        max_body_bytes: int,
        body_timeout_seconds: float,
        route_paths: Callable[[], Iterable[str]],
        exception_handlers: Mapping[Any, Any],
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.max_body_bytes = max_body_bytes
        self._watchdog = BodyWatchdog(body_timeout_seconds)
        self._version = VersionHeader()
        self._metrics = RequestMetrics(route_paths)
        self._hot = HotPath(app, runtime, exception_handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = without_trailing_slash(scope)
        # The head, read once.
        request_id: str | None = None
        lengths: list[bytes] = []
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                lengths.append(value)
            elif name == b"transfer-encoding":
                chunked = True
            elif name == ids.HEADER and request_id is None and ids.is_sane(value):
                request_id = value.decode("ascii")
        if request_id is None:
            request_id = ids.new_request_id()
        token = request_id_var.set(request_id)
        scope[SNAPSHOT] = self.runtime.snapshot
        id_header = (ids.HEADER, request_id.encode("ascii"))
        status = 500  # if the app raises before answering
        answered = False
        timed_out = False
        too_large = False
        started = time.perf_counter()

        async def send_on(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() != ids.HEADER]
                headers.append(self._version.of(scope[SNAPSHOT]))
                headers.append(id_header)
                message = {**message, "headers": headers}
            await send(message)

        async def app_send(message: Message) -> None:
            nonlocal answered
            if timed_out or too_large:
                return  # whatever an inner layer made of it (a 500): the 408 or 413 answers
            if message["type"] == "http.response.start":
                answered = True
            await send_on(message)

        async def answer(reply: Answer) -> None:
            code, headers, body = reply
            await send_on({"type": "http.response.start", "status": code, "headers": headers})
            await send_on({"type": "http.response.body", "body": body})

        body_pending = has_body(lengths, chunked)
        app_receive = receive
        if body_pending:
            deadline = self._watchdog.deadline()
            received = 0

            async def body_receive() -> Message:
                nonlocal body_pending, timed_out, too_large, received
                if not body_pending:
                    return await receive()
                try:
                    message = await self._watchdog.receive(receive, deadline)
                except BodyTimedOut:
                    timed_out = True
                    raise
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        body_pending = False
                    if received > self.max_body_bytes:
                        too_large = True
                        raise BodyTooLarge
                else:
                    body_pending = False
                return message

            app_receive = body_receive

        with metrics.request_notes() as notes:
            try:
                if any(declares_too_much(length, self.max_body_bytes) for length in lengths):
                    await answer(too_large_answer(self.max_body_bytes))
                    return
                try:
                    hot = self._hot.match(scope)
                    if hot is not None:
                        await self._hot(hot, scope, app_receive, app_send)
                    else:
                        await self.app(scope, app_receive, app_send)
                except BodyTooLarge:
                    if not answered:
                        await answer(too_large_answer(self.max_body_bytes))
                except Exception:
                    if not timed_out:
                        raise
                if timed_out and not answered:
                    metrics.record_timeout("body")
                    await answer(self._watchdog.answer())
            finally:
                elapsed = time.perf_counter() - started
                self._metrics.observe(scope, status, elapsed, notes)
                ids.log_request(scope, status, elapsed)
                request_id_var.reset(token)


def front_first(app: FastAPI, **options: Any) -> None:
    """Make HttpFront (``options``: its keywords) ``app``'s outermost layer, in front of
    FastAPI's own; built with the rest of the stack, at the first request, as a
    middleware added with ``add_middleware`` would be (so the exception handlers
    and routes added until then are the ones it answers with)."""
    build_the_rest = app.build_middleware_stack

    def build() -> ASGIApp:
        return HttpFront(build_the_rest(), **options)

    # Starlette builds the stack by calling this method: one place to put a layer
    # outside FastAPI's ServerErrorMiddleware, which add_middleware cannot.
    app.build_middleware_stack = build  # type: ignore[method-assign]
