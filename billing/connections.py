"""Connection guards for `billing serve`: idle and header timeouts, a cap per worker.

uvicorn times out a keep-alive connection only after a response: one that
never sends a request, or sends a request head byte by byte (slowloris), is
kept forever, and a few thousand of them exhaust the process's open-file
limit. This protocol (uvicorn's httptools one, plus the guards) closes

- a connection idle for ``BILLING_IDLE_TIMEOUT_SECONDS`` from the start, as
  uvicorn already does between requests (``timeout_keep_alive``);
- a request whose head is not complete ``BILLING_HEADER_TIMEOUT_SECONDS``
  after its first byte, with a 408;
- at once, a connection arriving while the worker has
  ``BILLING_MAX_CONNECTIONS_PER_WORKER`` open: one log line (at most every
  10 s) and ``billing_http_connections_refused_total``.

A body that stops arriving is the app's part (billing/api/body_timeout.py):
it answers 408 in the API's error shape.

It also writes each answer's head together with its body (``_OneWrite``):
one system call instead of uvicorn's two.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from billing import metrics
from billing.settings import Settings, get_settings

log = logging.getLogger("billing.serve")

LOG_EVERY_SECONDS = 10.0
# Files a worker needs besides client connections: database pool and overflow,
# SQLite files, the metrics files, pipes, logs.
_OTHER_FILES = 64


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_connections: int
    header_timeout: float


def limits_for(settings: Settings) -> ConnectionLimits:
    """The configured cap, lowered to what the open-file limit can hold."""
    cap = settings.max_connections_per_worker
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = soft - _OTHER_FILES - 2 * settings.db_pool_size
    if soft != resource.RLIM_INFINITY and cap > room:
        log.warning(
            "BILLING_MAX_CONNECTIONS_PER_WORKER=%d does not fit the open-file limit %d:"
            " accepting at most %d connections per worker",
            cap,
            soft,
            max(room, 1),
        )
        cap = max(room, 1)
    return ConnectionLimits(max_connections=cap, header_timeout=settings.header_timeout_seconds)


@cache
def _limits() -> ConnectionLimits:
    return limits_for(get_settings())


def raise_open_files_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (workers inherit it); the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, hard, exc)
    log.info("open-file limit: %d (hard limit %d)", soft, hard)
    return soft


class _Throttle:
    """True at most once per ``every`` seconds; counts the calls it said False to."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.last = float("-inf")
        self.skipped = 0

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.last < self.every:
            self.skipped += 1
            return False
        self.last = now
        return True

    def take_skipped(self) -> int:
        skipped, self.skipped = self.skipped, 0
        return skipped


_refusals = _Throttle(LOG_EVERY_SECONDS)
_head_timeouts = _Throttle(LOG_EVERY_SECONDS)

_HEAD_TIMEOUT_BODY = json.dumps(
    {
        "error": "request_timeout",
        "detail": "the request head did not arrive in time; send the whole request at once",
    }
).encode()
HEAD_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s"
    % (len(_HEAD_TIMEOUT_BODY), _HEAD_TIMEOUT_BODY)
)


class _OneWrite:
    """A request cycle's transport: the answer's head is held back until its body,
    so the two go out in one system call (uvicorn writes them one by one: two
    ``send`` calls per answer, ~9% of a check's event-loop samples). Held at most
    until the loop's next turn, so a streamed answer's head still goes out at once."""

    __slots__ = ("_done", "_head", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None
        self._done = False  # the head is out: everything else passes straight through

    def write(self, data: bytes) -> None:
        if self._done or data.startswith(_INTERIM):
            self._transport.write(data)
        elif self._head is None:
            self._head = data
            self._loop.call_soon(self._flush)
        else:
            head, self._head, self._done = self._head, None, True
            self._transport.writelines((head, data))

    def _flush(self) -> None:
        if self._head is not None:
            head, self._head, self._done = self._head, None, True
            self._transport.write(head)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


_INTERIM = b"HTTP/1.1 100 "  # 100 Continue, written by uvicorn before the answer


class GuardedHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = _limits()
        self._refused = False
        self._in_head = False
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self._limits.max_connections:
            self._refused = True
            metrics.record_connection_refused()
            if _refusals():
                log.warning(
                    "connection limit reached: %d connections open on this worker"
                    " (BILLING_MAX_CONNECTIONS_PER_WORKER); closing new ones"
                    " (%d more closed since the last line)",
                    len(self.connections),
                    _refusals.take_skipped(),
                )
            transport.close()  # its file is freed now, not after a timeout
            return
        super().connection_made(transport)
        metrics.record_connection(opened=True)
        # Idle from the start: uvicorn arms this timer only after a response.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._stop_head_timer()
        metrics.record_connection(opened=False)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # A head still incomplete after this chunk: it has header_timeout from now to finish.
        if self._in_head and self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(
                self._limits.header_timeout, self._head_timed_out
            )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        super().on_headers_complete()
        if self.cycle is not None:
            self.cycle.transport = _OneWrite(self.transport, self.loop)  # type: ignore[assignment]

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head behind a request still being answered: not its turn yet.
            self._head_timer = self.loop.call_later(
                self._limits.header_timeout, self._head_timed_out
            )
            return
        metrics.record_timeout("header")
        if _head_timeouts():
            log.warning(
                "request head from %s not complete after %s s: 408, connection closed"
                " (%d more since the last line)",
                (self.client or ("-",))[0],
                self._limits.header_timeout,
                _head_timeouts.take_skipped(),
            )
        self.transport.write(HEAD_TIMEOUT_RESPONSE)
        self.transport.close()
