"""Start the real service (`billing serve`) in a subprocess for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    port = port or free_port()
    child_env = {**os.environ, "BILLING_DATABASE_URL": database_url, **(env or {})}
    child_env.pop("BILLING_CONFIG", None)
    if config is not None:
        child_env["BILLING_CONFIG"] = str(config)
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "billing", "serve", "--port", str(port), "--workers", str(workers)],
        env=child_env,
        stdout=log,
        stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"billing serve exited with {process.returncode}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("billing serve did not become ready in 120 s")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log_path:
            log.close()  # type: ignore[union-attr]
