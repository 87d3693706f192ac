"""Streams passed through event by event while their usage is read.

Each complete server-sent event is sent on as soon as it has arrived (an
upstream write is normally one or more whole events, so nothing waits); only
the partial event at the end of a read is kept until its blank line comes.
The usage-only chunk the gateway asked an OpenAI stream for is dropped when the
client did not ask for it.

A client that goes away cancels the response (a watcher task listens for the
ASGI disconnect): the upstream response is closed, which cancels the upstream
request, and the call is recorded as ``incomplete``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from billing.gateway.dialects import StreamReader
from billing.gateway.errors import ANTHROPIC, error_body
from billing.gateway.upstream import UPSTREAM_ERRORS, UpstreamResponse

_SEPARATORS = (b"\n\n", b"\r\n\r\n")


def _event_end(buffer: bytes) -> int:
    """The index just past the first complete event in ``buffer``, or -1."""
    best = -1
    for separator in _SEPARATORS:
        at = buffer.find(separator)
        if at >= 0 and (best < 0 or at + len(separator) < best):
            best = at + len(separator)
    return best


def _data(block: bytes) -> bytes:
    """The data of one event (its ``data:`` lines joined)."""
    if block.startswith(b"data: ") and block.count(b"\n") <= 2:  # the common one-line event
        return block[6:].rstrip(b"\r\n")
    lines = []
    for line in block.splitlines():
        if line.startswith(b"data:"):
            value = line[5:]
            lines.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(lines)


class Relay:
    """One stream: the upstream response, its reader, and what to do at the end."""

    def __init__(
        self,
        upstream: UpstreamResponse,
        reader: StreamReader,
        dialect: str,
        finish: Callable[[Relay], Coroutine[Any, Any, None]],
    ) -> None:
        self.upstream = upstream
        self.reader = reader
        self.dialect = dialect
        self.upstream_error: str | None = None  # the upstream broke off mid-stream
        self.client_gone = True  # until the stream ran to its end
        self.ended_at: float | None = None
        self._finish = finish
        self._finished = False

    async def events(self) -> AsyncIterator[bytes]:
        buffer = b""
        try:
            async for chunk in self.upstream.chunks():
                buffer = buffer + chunk if buffer else chunk
                out = []
                while (end := _event_end(buffer)) >= 0:
                    block, buffer = buffer[:end], buffer[end:]
                    if self.reader.event(_data(block)):
                        out.append(block)
                if out:
                    yield out[0] if len(out) == 1 else b"".join(out)
        except UPSTREAM_ERRORS as exc:
            # Timeout or broken connection after the answer began: tell the client
            # in the stream's own terms, and bill what was generated.
            self.upstream_error = f"{type(exc).__name__}: {exc}"
            buffer = b""
            yield self._error_event()
        if buffer:
            yield buffer
        self.client_gone = False
        self.ended_at = time.perf_counter()

    def _error_event(self) -> bytes:
        message = "the upstream stopped answering mid-stream; the answer is incomplete"
        body = error_body(502, "upstream_error", message, self.dialect)
        prefix = b"event: error\n" if self.dialect == ANTHROPIC else b""
        return prefix + b"data: " + body + b"\n\n"

    async def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        with anyio.CancelScope(shield=True):
            await self.upstream.aclose()  # mid-stream: closes the connection, cancelling the call
            await self._finish(self)


class RelayResponse(StreamingResponse):
    """A StreamingResponse that always finishes its relay, however it ends: after the
    last byte (the record commits while the client reads the end), or when cut short.

    The stream runs in the request's own task, a watcher task listening for the
    client's disconnect beside it: Starlette would start the stream in a new task of
    a task group, and its first chunk would wait for that task's first loop turn."""

    def __init__(self, relay: Relay, headers: dict[str, str], media_type: str) -> None:
        super().__init__(
            relay.events(), relay.upstream.status_code, headers=headers, media_type=media_type
        )
        self.relay = relay
        self._streaming = False
        self._client_left = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        watcher = asyncio.create_task(self._watch(receive, task))
        self._streaming = True
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            if not self._client_left:
                raise
            task.uncancel()  # the cancel was the watcher's: the response ends here
        finally:
            self._streaming = False
            watcher.cancel()
            await self.relay.finish()

    async def _watch(self, receive: Receive, task: asyncio.Task[Any]) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if self._streaming:  # not once the stream has ended (its finish is not cut short)
            self._client_left = True
            task.cancel()
