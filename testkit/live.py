"""The real service in a subprocess: `billing serve` (``Server``, ``live_server``)
and one-off CLI commands (``run_billing``), for end-to-end tests and benchmarks.

Tests take these through their fixtures (tests/conftest.py), which mark the
test ``e2e``; under pytest a test without that mark may not start one (see
``E2E_GUARD``), so ``make test-fast`` never waits for a process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

# A loaded 2-core CI machine may need this long to start several workers.
READY_TIMEOUT_SECONDS = 120
# Set by tests/conftest.py to "0" for a test not marked e2e (unset elsewhere).
E2E_GUARD = "BILLING_TEST_E2E"


def _check_allowed() -> None:
    if os.environ.get(E2E_GUARD) == "0":
        raise RuntimeError(
            "this test starts a process but is not marked e2e: take the live_server,"
            " billing_server or run_billing fixture (tests/conftest.py), which marks it"
        )


def _child_env(
    database_url: str, config: Path | None = None, env: dict[str, str] | None = None
) -> dict[str, str]:
    # Only the settings given here: a developer's own BILLING_* must not leak in.
    child = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")}
    child["BILLING_DATABASE_URL"] = database_url
    if config is not None:
        child["BILLING_CONFIG"] = str(config)
    child.update(env or {})
    return child


def run_billing(
    *args: str, database_url: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``billing <args>`` to completion (``python -m billing``); output captured."""
    _check_allowed()
    return subprocess.run(
        [sys.executable, "-m", "billing", *args],
        env=_child_env(database_url, env=env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[Any], timeout: float = 20) -> None:
    """Terminate ``process`` and wait for it; kill it if it has not ended in ``timeout`` s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Server:
    """A running `billing serve` (ready when constructed); tests may signal it."""

    def __init__(
        self,
        database_url: str,
        *,
        config: Path | None = None,
        workers: int = 1,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        port: int | None = None,
    ) -> None:
        _check_allowed()
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "ab") if log_path else None  # noqa: SIM115
        command = [sys.executable, "-m", "billing", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            env=_child_env(database_url, config, env),
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"billing serve exited with {self.process.returncode}{self._log_tail()}"
                )
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"billing serve not ready in {READY_TIMEOUT_SECONDS} s{self._log_tail()}"
                )
            time.sleep(0.1)

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return ":\n" + self.log_path.read_text(errors="replace")[-2000:]

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        stop_process(self.process)
        if self._log:
            self._log.close()
            self._log = None

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


@contextmanager
def live_server(
    database_url: str,
    *,
    config: Path | None = None,
    workers: int = 1,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    port: int | None = None,
) -> Iterator[str]:
    """Yield the base URL of a running `billing serve`; stop it afterwards."""
    with Server(
        database_url, config=config, workers=workers, env=env, log_path=log_path, port=port
    ) as server:
        yield server.base
