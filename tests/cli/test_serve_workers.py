"""`billing serve --workers N`: own socket per worker, restarts, SIGHUP, port in use."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from testkit.live import Server, free_port
from tests.conftest import BillingServer, RunBilling


def _workers(server: Server) -> set[int]:
    """Pids of the server's worker processes (spawned children, not the resource tracker)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == server.process.pid and b"spawn_main" in cmdline:
            pids.add(int(entry.name))
    return pids


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _established_on(port: int) -> dict[str, int]:
    """inode -> 1 for established TCP connections whose local port is ``port``."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # ESTABLISHED
                found[fields[9]] = 1
    return found


def _wait_for(condition, timeout: float = 60, show=lambda: "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"condition not met in time: {show()}")


def _wait_all_listening(log: Path) -> None:
    """Every worker listening: one answering /readyz is not enough (under load the
    other may not have its socket yet), the supervisor logs it once all are up."""
    _wait_for(lambda: "with 2 workers" in log.read_text(errors="replace"))


def test_connections_are_spread_over_the_workers(
    sqlite_url: str, tmp_path: Path, billing_server: BillingServer
) -> None:
    """16 keep-alive connections opened at once: every worker gets some (with one
    shared socket, one worker often took them all)."""
    log = tmp_path / "serve.log"
    with billing_server(sqlite_url, workers=2, log_path=log) as server:
        _wait_all_listening(log)
        workers = _workers(server)
        assert len(workers) == 2
        clients = [httpx.Client(base_url=server.base, timeout=30) for _ in range(16)]
        try:
            for client in clients:
                assert client.get("/healthz").status_code == 200
            connections = _established_on(server.port)
            per_worker = {pid: len(_socket_inodes(pid) & connections.keys()) for pid in workers}
        finally:
            for client in clients:
                client.close()
    assert sum(per_worker.values()) == 16, per_worker
    assert all(count > 0 for count in per_worker.values()), per_worker


def test_a_dead_worker_is_replaced_and_sighup_replaces_all(
    sqlite_url: str, tmp_path: Path, billing_server: BillingServer
) -> None:
    log = tmp_path / "serve.log"
    with billing_server(sqlite_url, workers=2, log_path=log) as server:
        # A worker that dies while starting stops the server, by design.
        _wait_all_listening(log)
        first = _workers(server)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        _wait_for(
            lambda: len(_workers(server)) == 2 and victim not in _workers(server),
            show=lambda: (victim, first, _workers(server), server._log_tail()),
        )
        assert httpx.get(f"{server.base}/healthz", timeout=30).status_code == 200
        exposition = httpx.get(f"{server.base}/metrics", timeout=30).text
        restarts = [line for line in exposition.splitlines() if "worker_restarts" in line]
        assert "billing_worker_restarts_total 1.0" in exposition.splitlines(), (
            restarts,
            server._log_tail(),
        )

        before = _workers(server)
        server.signal(signal.SIGHUP)
        _wait_for(lambda: not (_workers(server) & before) and len(_workers(server)) == 2)
        for _ in range(10):
            assert httpx.get(f"{server.base}/healthz", timeout=30).status_code == 200
        server.signal(signal.SIGTERM)
        assert server.wait() == 0
        assert not _workers(server)


def test_a_port_in_use_is_refused(sqlite_url: str, run_billing: RunBilling) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = run_billing(
            "serve", "--port", str(port), "--workers", "2", database_url=sqlite_url, timeout=60
        )
    assert done.returncode != 0
    assert "Address already in use" in done.stderr + done.stdout


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_finishes_and_exits(
    sqlite_url: str, workers: int, billing_server: BillingServer
) -> None:
    with billing_server(sqlite_url, workers=workers) as server:
        assert httpx.get(f"{server.base}/healthz", timeout=30).status_code == 200
        server.signal(signal.SIGTERM)
        assert server.wait() in (0, -signal.SIGTERM)


def test_default_workers_one_per_core_on_postgresql_one_on_sqlite() -> None:
    from billing.settings import default_workers

    cores = len(os.sched_getaffinity(0))
    assert default_workers("sqlite:///./billing.db") == 1
    assert default_workers("postgresql+psycopg://u@h/db") == max(1, min(cores, 8))
