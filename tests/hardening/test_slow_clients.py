"""Slow, silent and too many clients, against the real `billing serve` over real sockets.

A body that stops arriving gets 408 within BILLING_BODY_TIMEOUT_SECONDS, a head
that stops arriving within BILLING_HEADER_TIMEOUT_SECONDS; idle connections are
closed after BILLING_IDLE_TIMEOUT_SECONDS; connections beyond
BILLING_MAX_CONNECTIONS_PER_WORKER are closed at once (a log line, a metric) and
the service answers again when the crowd leaves.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testkit.live import Server
from tests.metrics.scrape import parse, total

# Every test here runs `billing serve` in a subprocess.
pytestmark = pytest.mark.e2e

TIMEOUT = 1.0  # seconds, for the three timeouts under test
# Generous: a loaded 2-core machine; far below "never", which is what it was.
LATE = 8.0
CAP = 8
VERSION = "x-billing-config-version"


@pytest.fixture(scope="module")
def server(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log_path = tmp_path_factory.mktemp("slow") / "serve.log"
    env = {
        "BILLING_BODY_TIMEOUT_SECONDS": str(TIMEOUT),
        "BILLING_HEADER_TIMEOUT_SECONDS": str(TIMEOUT),
        "BILLING_IDLE_TIMEOUT_SECONDS": str(TIMEOUT),
    }
    with Server(sqlite_url, env=env, log_path=log_path) as running:
        yield running


def _connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def _read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    sock.settimeout(LATE + 5)
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    return received, time.monotonic() - started


def _response(raw: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, json.loads(body)


def _accepted_events(server: Server) -> float:
    scraped = parse(httpx.get(f"{server.base}/metrics", timeout=30).text)
    return total(scraped, "billing_usage_events_total", outcome="accepted")


def test_a_stalled_body_gets_408_and_the_connection_is_closed(server: Server) -> None:
    accepted_before = _accepted_events(server)
    body = json.dumps({"events": [{"event_id": "stalled"}]}).encode()
    with _connect(server) as sock:
        sock.sendall(
            b"POST /v1/usage HTTP/1.1\r\nhost: billing\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body[:10])
        )
        raw, waited = _read_until_closed(sock)
    status, headers, answer = _response(raw)
    assert status == 408, raw
    assert answer["error"] == "request_timeout"
    assert "body" in str(answer["detail"])
    assert headers["connection"] == "close"
    assert len(headers[VERSION]) == 12  # like every answer
    assert TIMEOUT * 0.9 <= waited < LATE
    assert _accepted_events(server) == accepted_before  # nothing was written
    scraped = parse(httpx.get(f"{server.base}/metrics", timeout=30).text)
    assert total(scraped, "billing_http_timeouts_total", phase="body") >= 1
    assert total(scraped, "billing_http_request_duration_seconds_count", status="408") >= 1


def test_a_complete_body_in_pieces_within_the_timeout_is_served(server: Server) -> None:
    body = b'{"endpoint": "openAI", "model": "gpt-4o", "tokens": {"prompt": 1000}}'
    with _connect(server) as sock:
        sock.sendall(
            b"POST /v1/quote HTTP/1.1\r\nhost: billing\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(body)
        )
        for piece in (body[:20], body[20:40], body[40:]):
            time.sleep(TIMEOUT / 5)
            sock.sendall(piece)
        raw, _ = _read_until_closed(sock)
    status, _, answer = _response(raw)
    assert status == 200, raw
    assert answer["total_credits"]


def test_a_stalled_request_head_gets_408_and_the_connection_is_closed(server: Server) -> None:
    with _connect(server) as sock:
        sock.sendall(b"POST /v1/usage HTTP/1.1\r\nhost: billing\r\n")  # and no more
        raw, waited = _read_until_closed(sock)
    status, headers, answer = _response(raw)
    assert (status, answer["error"], headers["connection"]) == (408, "request_timeout", "close")
    assert TIMEOUT * 0.9 <= waited < LATE
    scraped = parse(httpx.get(f"{server.base}/metrics", timeout=30).text)
    assert total(scraped, "billing_http_timeouts_total", phase="header") >= 1


def test_idle_connections_are_closed(server: Server) -> None:
    with _connect(server) as silent:  # never sends a byte
        raw, waited = _read_until_closed(silent)
    assert raw == b""
    assert TIMEOUT * 0.9 <= waited < LATE
    with _connect(server) as kept:  # idle after a first request
        kept.sendall(b"GET /healthz HTTP/1.1\r\nhost: billing\r\n\r\n")
        raw, waited = _read_until_closed(kept)
    assert raw.startswith(b"HTTP/1.1 200"), raw
    assert waited < LATE


def test_the_open_file_limit_is_raised_to_the_hard_limit(server: Server) -> None:
    limits = Path(f"/proc/{server.process.pid}/limits").read_text()
    line = next(row for row in limits.splitlines() if row.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    assert soft == hard, line
    assert server.log_path is not None
    assert f"open-file limit: {soft}" in server.log_path.read_text()


def _open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_connections_beyond_the_cap_are_closed_logged_and_counted(
    sqlite_url: str, tmp_path: Path
) -> None:
    log_path = tmp_path / "serve.log"
    env = {"BILLING_MAX_CONNECTIONS_PER_WORKER": str(CAP), "BILLING_IDLE_TIMEOUT_SECONDS": "60"}
    with Server(sqlite_url, env=env, log_path=log_path) as server:
        crowd = [_connect(server) for _ in range(CAP)]
        try:
            # One request on each: every connection of the crowd is accepted and open.
            for sock in crowd:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: billing\r\n\r\n")
                assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            files_at_cap = _open_files(server.process.pid)
            for _ in range(50):
                with _connect(server) as extra:
                    extra.sendall(b"GET /healthz HTTP/1.1\r\nhost: billing\r\n\r\n")
                    raw, waited = _read_until_closed(extra)
                assert raw == b"" and waited < LATE
            # Closed at once: no file held for any of them.
            assert _open_files(server.process.pid) <= files_at_cap + 5  # not + 50
            log = log_path.read_text()
            assert "connection limit reached" in log
            assert "BILLING_MAX_CONNECTIONS_PER_WORKER" in log
            assert log.count("connection limit reached") < 50  # rate-limited
        finally:
            for sock in crowd:
                sock.close()
        deadline = time.monotonic() + LATE
        while True:  # the server sees the crowd leave
            try:
                response = httpx.get(f"{server.base}/metrics", timeout=30)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert response.status_code == 200
        scraped = parse(response.text)
        assert total(scraped, "billing_http_connections_refused_total") >= 50
        assert 1 <= total(scraped, "billing_http_connections") <= CAP
