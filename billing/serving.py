"""`billing serve --workers N`: one listening socket per worker (SO_REUSEPORT).

uvicorn's own multi-worker mode shares one socket between the workers and
lets them race to accept; a client that opens a few connections at once (a
chat backend's keep-alive pool, the benchmark's load generator) often lands
every connection on the same worker while the others idle: batch ingest ran
at the speed of one worker whatever N was (make bench). With SO_REUSEPORT
each worker has its own socket on the same port and the kernel spreads new
connections over them by a hash of their addresses: not evenly for a handful
of connections (8 split 4:4 only 27% of the time), which, as measured, costs
batch ingest little (benchmarks/RESULTS.md, seventh pass).

The supervisor here starts the workers, restarts one that dies, and on
SIGTERM/SIGINT asks each to finish its requests and waits.

Every worker prices with the same config. The supervisor reads the config
file once per generation and hands that text to the workers it starts, so a
replacement for a dead worker loads what its siblings loaded, whatever the
file says by then. SIGHUP rolls out a new generation all or nothing: the
new config is checked, N new workers load it while the old ones serve, and
only when all N have loaded do they start listening and the old ones stop.
If one of them dies or does not load, the new ones are stopped and every
worker keeps the old config (logged, ``billing_config_rollouts_total``).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import uvicorn

from billing.console.auth import START_SECRET_ENV

log = logging.getLogger("billing.serve")

APP = "billing.main:create_app"
# uvicorn's ``http`` option: its httptools protocol with timeouts and a connection cap.
HTTP_PROTOCOL = "billing.connections:GuardedHttpProtocol"
STARTUP_TIMEOUT_SECONDS = 120.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Worker -> supervisor: the app is loaded (and waits for GO), then it is listening.
_LOADED, _UP, _GO = b"loaded", b"up", b"go"
_STARTING, _LOADED_STATE, _UP_STATE, _FAILED = 0, 1, 2, -1


@dataclass(frozen=True, slots=True)
class PinnedConfig:
    """One generation's config: the file's text (None: built-in defaults) and its version."""

    text: str | None
    version: str


def read_config() -> PinnedConfig:
    """Read and check the configured file; ConfigError lists the problems."""
    from billing.config.loader import read_config_text
    from billing.config.version import config_version
    from billing.runtime import load_config
    from billing.settings import get_settings

    settings = get_settings()
    text = read_config_text(settings.config) if settings.config is not None else None
    return PinnedConfig(text, config_version(load_config(settings, text)))


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class _Server(uvicorn.Server):
    """Reports over a pipe (no lock shared with the supervisor, which a worker killed
    mid-way could leave held). With ``hold`` it loads the app, says so, and listens
    only when the supervisor says GO: a rollout's new workers serve nothing until
    all of them have loaded."""

    def __init__(self, config: uvicorn.Config, control: Connection, *, hold: bool) -> None:
        super().__init__(config)
        self._control = control
        self._hold = hold

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if self._hold:
            self._control.send_bytes(_LOADED)
            if not await self._released():
                self.should_exit = True
                return
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self._control.send_bytes(_UP)
            self._control.close()

    async def _released(self) -> bool:
        while not self.should_exit:  # SIGTERM sets it
            try:
                if self._control.poll():
                    return self._control.recv_bytes() == _GO
            except (EOFError, OSError):  # the supervisor gave up on this rollout
                return False
            await asyncio.sleep(0.01)
        return False


def _app_factory(config_text: str | None) -> Callable[[], Any]:
    def create() -> Any:
        from billing.main import create_app
        from billing.runtime import Runtime, load_snapshot
        from billing.settings import get_settings

        settings = get_settings()
        return create_app(settings, Runtime(settings, load_snapshot(settings, config_text)))

    return create


def _single_process_app() -> Any:
    from billing.actors import SIGNAL
    from billing.admin.service import reload_config
    from billing.errors import InvalidRequest
    from billing.main import create_app
    from billing.runtime import Runtime
    from billing.settings import get_settings

    runtime = Runtime(get_settings())

    def reload_on_hangup(*_: object) -> None:
        try:
            snapshot = reload_config(runtime, actor=SIGNAL)
        except InvalidRequest as exc:
            log.error("SIGHUP: %s", exc.detail)
            return
        log.info("SIGHUP: config reloaded, version %s", snapshot.version)

    signal.signal(signal.SIGHUP, reload_on_hangup)
    return create_app(runtime.settings, runtime)


def _worker(
    host: str,
    port: int,
    options: dict[str, Any],
    control: Connection,
    config_text: str | None,
    hold: bool,
) -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the supervisor's signal: it replaces us
    sock = listening_socket(host, port, reuse_port=True)  # bound; listens from startup()
    app = _app_factory(config_text)
    config = uvicorn.Config(app, factory=True, host=host, port=port, **options)
    _Server(config, control, hold=hold).run(sockets=[sock])


class _Worker:
    def __init__(
        self, host: str, port: int, options: dict[str, Any], config: PinnedConfig, *, hold: bool
    ) -> None:
        self.config = config
        self.state = _STARTING
        context = multiprocessing.get_context("spawn")
        self._control, child = context.Pipe(duplex=True)
        self.process = context.Process(
            target=_worker, args=(host, port, options, child, config.text, hold), daemon=False
        )
        self.process.start()
        child.close()  # the worker's end; ours sees end-of-file if it dies

    def poll(self) -> int:
        """The state now (no waiting): starting, loaded, up, or failed (died first)."""
        if self.state in (_UP_STATE, _FAILED):
            return self.state
        try:
            while self._control.poll():
                message = self._control.recv_bytes()
                if message == _LOADED:
                    self.state = _LOADED_STATE
                elif message == _UP:
                    self.state = _UP_STATE
                    self._control.close()
                    return self.state
        except (EOFError, OSError):
            self.state = _FAILED
        if not self.process.is_alive():
            self.state = _FAILED
        return self.state

    def release(self) -> None:
        """GO: a held worker starts listening."""
        try:
            self._control.send_bytes(_GO)
        except OSError:
            self.state = _FAILED

    def describe(self) -> str:
        self.process.join(0)
        return f"pid {self.process.pid} (exit code {self.process.exitcode})"

    def terminate(self) -> None:
        """Ask the worker to finish its requests and exit (uvicorn's graceful SIGTERM)."""
        if self.process.is_alive() and self.process.pid is not None:
            os.kill(self.process.pid, signal.SIGTERM)

    def join(self, timeout: float) -> None:
        """Wait for the exit; kill the worker if it takes longer than ``timeout``."""
        self._control.close()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        _forget_metrics(self.process.pid)


def _forget_metrics(pid: int | None) -> None:
    """A dead worker's live gauges (config version, open connections) leave /metrics."""
    from billing.multiprocess import MULTIPROC_ENV

    if pid is not None and os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


class Supervisor:
    def __init__(self, host: str, port: int, workers: int, options: dict[str, Any]) -> None:
        self.host, self.port, self.count, self.options = host, port, workers, options
        self.workers: list[_Worker] = []
        self.retiring: list[tuple[_Worker, float]] = []  # (worker, kill after)
        self.current = PinnedConfig(None, "")
        self.stopping = threading.Event()
        self.reload_requested = threading.Event()
        self.graceful_seconds = float(options.get("timeout_graceful_shutdown") or 30) + 5

    def run(self) -> int:
        from billing.config.errors import ConfigError

        # Fail like uvicorn when the port is taken (sockets with SO_REUSEPORT would share it).
        listening_socket(self.host, self.port, reuse_port=False).close()
        for sig in _STOP_SIGNALS:
            signal.signal(sig, lambda *_: self.stopping.set())
        signal.signal(signal.SIGHUP, lambda *_: self.reload_requested.set())
        try:
            self.current = read_config()
        except ConfigError as exc:
            log.error("config invalid, not starting: %s", "; ".join(exc.problems))
            return 3
        self.workers = [self._spawn(self.current, hold=False) for _ in range(self.count)]
        failure = self._await(self.workers, _UP_STATE, keep_alive=False)
        if self.stopping.is_set():  # SIGTERM while starting: a normal stop, not a failure
            self._stop_all()
            return 0
        if failure:
            log.error("a worker failed to start (%s); stopping", failure)
            self._stop_all()
            return 3
        log.info(
            "serving on %s:%d with %d workers, config version %s",
            self.host, self.port, self.count, self.current.version,
        )  # fmt: skip
        while not self.stopping.wait(0.5):
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self._roll_out()
            self._keep_alive()
            self._reap()
        self._stop_all()
        return 0

    def _spawn(self, config: PinnedConfig, *, hold: bool) -> _Worker:
        return _Worker(self.host, self.port, self.options, config, hold=hold)

    def _await(self, workers: list[_Worker], state: int, *, keep_alive: bool = True) -> str | None:
        """Wait until every worker in ``workers`` reached ``state``; else why not. The
        serving workers are kept alive meanwhile (a rollout can take a while)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            states = [worker.poll() for worker in workers]
            for worker, now in zip(workers, states, strict=True):
                if now == _FAILED:
                    return f"worker {worker.describe()} died while starting"
            if all(now >= state for now in states):
                return None
            if self.stopping.is_set():
                return "stopping"
            if time.monotonic() > deadline:
                return f"not ready in {STARTUP_TIMEOUT_SECONDS:g} s"
            if keep_alive:
                self._keep_alive()
                self._reap()
            time.sleep(0.05)

    def _keep_alive(self) -> None:
        """A dead worker is replaced by one with the same (pinned) config."""
        for index, worker in enumerate(self.workers):
            if not worker.process.is_alive() and not self.stopping.is_set():
                log.warning("worker %s died; starting another (config version %s)",
                            worker.describe(), self.current.version)  # fmt: skip
                worker.join(0)
                from billing import metrics  # imported late, as in _roll_out

                metrics.record_worker_restart()
                self.workers[index] = self._spawn(self.current, hold=False)

    def _roll_out(self) -> None:
        """SIGHUP: every worker replaced with the new config, or none."""
        from billing import metrics
        from billing.config.errors import ConfigError

        old_version = self.current.version
        try:
            candidate = read_config()
        except ConfigError as exc:
            log.error(
                "config rollout refused, every worker keeps config version %s: %s",
                old_version, "; ".join(exc.problems),
            )  # fmt: skip
            metrics.record_config_rollout(ok=False)
            return
        log.info("config rollout: starting %d workers with config version %s (serving %s)",
                 self.count, candidate.version, old_version)  # fmt: skip
        new = [self._spawn(candidate, hold=True) for _ in range(self.count)]
        failure = self._await(new, _LOADED_STATE)
        if failure is None:
            for worker in new:  # all loaded: now they listen, and then the old ones go
                worker.release()
            failure = self._await(new, _UP_STATE)
        if failure is not None:
            self._retire(new)
            log.error(
                "config rollout of version %s failed (%s): the new workers are stopped,"
                " all %d workers keep serving config version %s",
                candidate.version, failure, self.count, old_version,
            )  # fmt: skip
            metrics.record_config_rollout(ok=False)
            return
        old, self.workers, self.current = self.workers, new, candidate
        self._retire(old)
        log.info("config rollout done: all %d workers serve config version %s",
                 self.count, candidate.version)  # fmt: skip
        metrics.record_config_rollout(ok=True)
        self._audit_rollout(candidate.version, old_version)

    def _audit_rollout(self, version: str, previous: str) -> None:
        from billing.admin.service import record_rollout
        from billing.settings import get_settings

        settings = get_settings()
        source = str(settings.config) if settings.config is not None else None
        try:
            record_rollout(settings.database_url, source, version, previous)
        except Exception:  # the workers serve the new config: an audit failure must not stop us
            log.exception("config rollout done but not recorded in the audit trail")

    def _retire(self, workers: list[_Worker]) -> None:
        """Ask them to finish their requests; _reap waits for them without blocking."""
        kill_after = time.monotonic() + self.graceful_seconds
        for worker in workers:
            worker.terminate()
            self.retiring.append((worker, kill_after))

    def _reap(self) -> None:
        still = []
        for worker, kill_after in self.retiring:
            if worker.process.is_alive() and time.monotonic() < kill_after:
                still.append((worker, kill_after))
            else:
                worker.join(0)
        self.retiring = still

    def _stop_all(self) -> None:
        for worker in self.workers:  # all at once, then wait: they finish in parallel
            worker.terminate()
        for worker in [*self.workers, *(w for w, _ in self.retiring)]:
            worker.join(self.graceful_seconds)
        self.retiring = []


def serve(host: str, port: int, workers: int, options: dict[str, Any]) -> None:
    """Serve the app; ``options`` are uvicorn.Config keywords (logging, timeouts)."""
    # Imported here: it loads the metrics, which must see the multiprocess directory.
    from billing.connections import raise_open_files_limit

    raise_open_files_limit()
    # The console signs sessions with it when nothing else is configured: every
    # worker started from here inherits the same one (billing/console/auth.py).
    os.environ.setdefault(START_SECRET_ENV, secrets.token_hex(32))
    if workers <= 1:
        # One process, no supervisor: SIGHUP reloads the config in place (like
        # POST /v1/admin/reload) instead of ending the process, its default action.
        uvicorn.run(_single_process_app, factory=True, host=host, port=port, **options)
        return
    sys.exit(Supervisor(host, port, workers, options).run())
