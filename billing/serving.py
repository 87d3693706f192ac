"""`billing serve --workers N`: one listening socket per worker (SO_REUSEPORT).

uvicorn's own multi-worker mode shares one socket between the workers and
lets them race to accept; a client that opens a few connections at once (a
chat backend's keep-alive pool, the benchmark's load generator) often lands
every connection on the same worker while the others idle: batch ingest ran
at the speed of one worker whatever N was (make bench). With SO_REUSEPORT
each worker has its own socket on the same port and the kernel spreads new
connections over them.

The supervisor here does what uvicorn's does: starts the workers, restarts
one that dies (unless it died while starting, which would repeat), replaces
them one by one on SIGHUP (new config, new code), and on SIGTERM/SIGINT
asks each to finish its requests and waits.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import uvicorn

log = logging.getLogger("billing.serve")

APP = "billing.main:create_app"
STARTUP_TIMEOUT_SECONDS = 120.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class _Server(uvicorn.Server):
    """Tells the supervisor when it is accepting connections (one byte on a pipe: no
    lock shared with the supervisor, which a worker killed mid-way could leave held)."""

    def __init__(self, config: uvicorn.Config, ready: Connection) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self._ready.send_bytes(b"1")
            self._ready.close()


def _worker(host: str, port: int, options: dict[str, Any], ready: Connection) -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the supervisor's signal: it replaces us
    sock = listening_socket(host, port, reuse_port=True)
    config = uvicorn.Config(APP, factory=True, host=host, port=port, **options)
    _Server(config, ready).run(sockets=[sock])


class _Worker:
    def __init__(self, host: str, port: int, options: dict[str, Any]) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready, ready = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_worker, args=(host, port, options, ready), daemon=False
        )
        self.process.start()
        ready.close()  # the worker's end; ours sees end-of-file if it dies first

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self._ready.poll(0.1):
                    return self._ready.recv_bytes() == b"1"
                if not self.process.is_alive():
                    return False
            return False
        except (EOFError, OSError):  # died before it was ready
            return False
        finally:
            self._ready.close()

    def terminate(self) -> None:
        """Ask the worker to finish its requests and exit (uvicorn's graceful SIGTERM)."""
        if self.process.is_alive() and self.process.pid is not None:
            os.kill(self.process.pid, signal.SIGTERM)

    def join(self, timeout: float) -> None:
        """Wait for the exit; kill the worker if it takes longer than ``timeout``."""
        self._ready.close()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()

    def stop(self, timeout: float) -> None:
        self.terminate()
        self.join(timeout)


class Supervisor:
    def __init__(self, host: str, port: int, workers: int, options: dict[str, Any]) -> None:
        self.host, self.port, self.count, self.options = host, port, workers, options
        self.workers: list[_Worker] = []
        self.stopping = threading.Event()
        self.reload_requested = threading.Event()
        self.graceful_seconds = float(options.get("timeout_graceful_shutdown") or 30) + 5

    def run(self) -> int:
        # Fail like uvicorn when the port is taken (sockets with SO_REUSEPORT would share it).
        listening_socket(self.host, self.port, reuse_port=False).close()
        for sig in _STOP_SIGNALS:
            signal.signal(sig, lambda *_: self.stopping.set())
        signal.signal(signal.SIGHUP, lambda *_: self.reload_requested.set())
        self.workers = [_Worker(self.host, self.port, self.options) for _ in range(self.count)]
        if not all(worker.wait_ready(STARTUP_TIMEOUT_SECONDS) for worker in self.workers):
            log.error("a worker failed to start; stopping")
            self._stop_all()
            return 3
        log.info("serving on %s:%d with %d workers", self.host, self.port, self.count)
        while not self.stopping.wait(0.5):
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self._replace_all()
            self._keep_alive()
        self._stop_all()
        return 0

    def _keep_alive(self) -> None:
        for index, worker in enumerate(self.workers):
            if not worker.process.is_alive() and not self.stopping.is_set():
                log.warning("worker %s died (exit %s); starting another", worker.process.pid,
                            worker.process.exitcode)  # fmt: skip
                self.workers[index] = _Worker(self.host, self.port, self.options)

    def _replace_all(self) -> None:
        """SIGHUP: replace each worker once its successor accepts connections."""
        for index, old in enumerate(self.workers):
            if self.stopping.is_set():
                return
            new = _Worker(self.host, self.port, self.options)
            if not new.wait_ready(STARTUP_TIMEOUT_SECONDS):
                log.error("a new worker did not start; keeping the old ones")
                new.stop(1)
                return
            old.stop(self.graceful_seconds)
            self.workers[index] = new
        log.info("all %d workers replaced", len(self.workers))

    def _stop_all(self) -> None:
        for worker in self.workers:  # all at once, then wait: they finish in parallel
            worker.terminate()
        for worker in self.workers:
            worker.join(self.graceful_seconds)


def serve(host: str, port: int, workers: int, options: dict[str, Any]) -> None:
    """Serve the app; ``options`` are uvicorn.Config keywords (logging, timeouts)."""
    if workers <= 1:
        uvicorn.run(APP, factory=True, host=host, port=port, **options)
        return
    sys.exit(Supervisor(host, port, workers, options).run())
