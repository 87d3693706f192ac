"""Answer 408 when a request body stops arriving.

uvicorn waits for a body forever: a client that sends its headers and part of
the body holds the request (and its connection) open indefinitely. Here the
whole body must have arrived ``seconds`` after the request started; else the
answer is 408 ``request_timeout`` in the API's error shape and the connection
is closed (the rest of the body, if it ever comes, is not read as a request).
Waits after the body (for a disconnect) are not cut off.

One watchdog per worker instead of a timer per request: a request only notes
its deadline while it waits for body bytes (a dict entry, well under a
microsecond), and a tick every ``seconds / 10`` (at most 1 s; none while no
request waits) cancels the waits that are past theirs. A timer per request
(``asyncio.timeout``) cost 10-15 us per request.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billing import metrics


class BodyTimeout:
    """Pure ASGI middleware; wraps ``receive`` while a body is still to come."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self._every = min(1.0, seconds / 10)
        self._waiting: dict[asyncio.Task[Any], float] = {}  # task waiting for body -> deadline
        self._expired: set[asyncio.Task[Any]] = set()
        self._tick: asyncio.TimerHandle | None = None
        body = json.dumps(
            {
                "error": "request_timeout",
                "detail": f"the request body did not arrive within {seconds:g} s;"
                " send the whole body without pauses",
            }
        ).encode()
        self._response_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),  # uvicorn closes the connection after this answer
        ]
        self._response_body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.seconds  # the loop's clock, without a method call
        body_pending = True
        timed_out = False
        response_started = False

        async def timed_receive() -> Message:
            nonlocal body_pending, timed_out
            if not body_pending:
                return await receive()
            task = asyncio.current_task()
            assert task is not None
            self._waiting[task] = deadline
            if self._tick is None:
                self._tick = loop.call_later(self._every, self._check, loop)
            try:
                message = await receive()
            except asyncio.CancelledError:
                if task not in self._expired:
                    raise
                self._expired.discard(task)
                task.uncancel()
                timed_out = True
                raise BodyTimedOut from None
            finally:
                del self._waiting[task]
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_pending = False
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if timed_out:
                return  # whatever an inner layer made of the timeout: the 408 answers
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except Exception:
            if not timed_out:
                raise
        if timed_out and not response_started:
            metrics.record_timeout("body")
            await send(
                {
                    "type": "http.response.start",
                    "status": 408,
                    "headers": list(self._response_headers),
                }
            )
            await send({"type": "http.response.body", "body": self._response_body})

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        """The watchdog: cancel body waits past their deadline (each such task is
        suspended in ``receive``, the only await while it is listed)."""
        now = time.monotonic()
        for task, deadline in self._waiting.items():
            if deadline <= now and task not in self._expired:
                self._expired.add(task)
                task.cancel()
        self._tick = loop.call_later(self._every, self._check, loop) if self._waiting else None


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


class BodyTimedOut(Exception):
    pass
