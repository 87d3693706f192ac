"""Answer 408 when a request body stops arriving.

uvicorn waits for a body forever: a client that sends its headers and part of
the body holds the request (and its connection) open indefinitely. Here the
whole body must have arrived ``seconds`` after the request started; else the
answer is 408 ``request_timeout`` in the API's error shape and the connection
is closed (the rest of the body, if it ever comes, is not read as a request).
Waits after the body (for a disconnect) are not cut off. billing/api/front.py
applies it to every request that has a body.

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

from starlette.types import Message, Receive


class BodyWatchdog:
    def __init__(self, seconds: float) -> None:
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
        self._answer_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),  # uvicorn closes the connection after this answer
        ]
        self._answer_body = body

    def deadline(self) -> float:
        """The deadline of a body whose request starts now (the loop's clock)."""
        return time.monotonic() + self.seconds

    async def receive(self, receive: Receive, deadline: float) -> Message:
        """One wait for body bytes; BodyTimedOut when ``deadline`` passes first."""
        task = asyncio.current_task()
        assert task is not None
        self._waiting[task] = deadline
        if self._tick is None:
            loop = asyncio.get_running_loop()
            self._tick = loop.call_later(self._every, self._check, loop)
        try:
            return await receive()
        except asyncio.CancelledError:
            if task not in self._expired:
                raise
            self._expired.discard(task)
            task.uncancel()
            raise BodyTimedOut from None
        finally:
            del self._waiting[task]

    def answer(self) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Status, headers and body of the 408."""
        return 408, list(self._answer_headers), self._answer_body

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        """The watchdog: cancel body waits past their deadline (each such task is
        suspended in ``receive``, the only await while it is listed)."""
        now = time.monotonic()
        for task, deadline in self._waiting.items():
            if deadline <= now and task not in self._expired:
                self._expired.add(task)
                task.cancel()
        self._tick = loop.call_later(self._every, self._check, loop) if self._waiting else None


def has_body(content_lengths: list[bytes], transfer_encoding: bool) -> bool:
    """From the request's head: a body is to come."""
    return transfer_encoding or any(length != b"0" for length in content_lengths)


class BodyTimedOut(Exception):
    pass
