"""Run the real service (`billing serve --workers N`) on 127.0.0.1 for the benchmark."""

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(
    database_url: str, *, config: Path, workers: int, log_path: Path, env: dict[str, str]
) -> Iterator[str]:
    """Yield the base URL of a ready server; stop it (SIGTERM, then SIGKILL) afterwards."""
    port = _free_port()
    child_env = {
        **os.environ,
        "BILLING_DATABASE_URL": database_url,
        "BILLING_CONFIG": str(config),
        "BILLING_LOG_LEVEL": "WARNING",
        **env,
    }
    child_env.pop("BILLING_API_KEYS", None)
    command = [sys.executable, "-m", "billing", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, env=child_env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"billing serve exited with {process.returncode}; see {log_path}"
                )
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"billing serve not ready in 60 s:\n{tail}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
