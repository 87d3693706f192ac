"""Faults: the database going away, a worker killed mid-batch, a graceful shutdown.

Requests are held inside their transaction deterministically by locking a
table from a second connection (PostgreSQL: ACCESS EXCLUSIVE on ledger_entry,
so the batch's events are already inserted when it blocks; SQLite: the write
lock), and the test waits until the request is seen waiting on that lock. No
sleeps decide an outcome.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from testkit.databases import empty_tables
from tests.conftest import BillingServer, RunBilling
from tests.hardening.locks import (
    TERMINATE_OTHERS,
    admin_run,
    postgres_table_locked,
    sqlite_write_locked,
    wait_for_backend_gone,
    wait_for_blocked_backend,
    wait_for_sqlite_lock_waiter,
)
from tests.hardening.support import assert_refused, nothing_written, row_counts
from tests.helpers import CLAUDE_CONFIG, event

# CLAUDE_CONFIG: startBalance 100000, each helper event costs 11250 credits in 4 ledger lines.
START_BALANCE = 100_000
EVENT_CREDITS = 11_250
LEDGER_LINES_PER_EVENT = 4


def _batch(size: int, prefix: str, user: str = "u1") -> dict[str, Any]:
    return {"events": [event(f"{prefix}-{i}", user) for i in range(size)]}


def _in_thread(call: Callable[[], httpx.Response]) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:  # the server may vanish under the request
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _wait_for_log(log: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never logged:\n{log.read_text(errors='replace')}")
        time.sleep(0.02)


def _assert_charged_once(
    run_billing: RunBilling, db_url: str, events: int, user_balance: str
) -> None:
    counts = row_counts(db_url)
    assert counts["usage_event"] == events
    assert counts["ledger_entry"] == events * LEDGER_LINES_PER_EVENT + 1  # + start balance
    reconciled = run_billing("reconcile", database_url=db_url)
    assert reconciled.returncode == 0, reconciled.stderr
    assert user_balance == str(START_BALANCE - events * EVENT_CREDITS)


@pytest.fixture
def pg_client(postgres_url: str, write_config: Callable[[str], Path]) -> Any:
    from billing.main import create_app
    from billing.runtime import Runtime
    from billing.settings import Settings

    empty_tables(postgres_url)
    settings = Settings(database_url=postgres_url, config=write_config(CLAUDE_CONFIG))
    runtime = Runtime(settings)
    try:
        with TestClient(create_app(settings, runtime)) as client:
            yield client
    finally:
        runtime.close()


@pytest.mark.postgres
def test_database_connection_killed_mid_request_is_503_and_writes_nothing(
    pg_client: TestClient, postgres_url: str, run_billing: RunBilling
) -> None:
    batch = _batch(50, "db-gone")
    with postgres_table_locked(postgres_url, "ledger_entry"):
        thread, outcome = _in_thread(lambda: pg_client.post("/v1/usage", json=batch))
        pid = wait_for_blocked_backend(postgres_url)
        # The request's connection, from a separate admin connection (the lock holder stays).
        admin_run(postgres_url, text("SELECT pg_terminate_backend(:pid)").bindparams(pid=pid))
        thread.join(60)
    (response,) = outcome
    assert_refused(response, 503, "unavailable", "database")
    wait_for_backend_gone(postgres_url, pid)
    assert nothing_written(postgres_url), row_counts(postgres_url)

    # Every pooled connection is dead now too; pre-ping replaces them and the retry lands once.
    admin_run(postgres_url, TERMINATE_OTHERS)
    retry = pg_client.post("/v1/usage", json=batch)
    assert retry.status_code == 200, retry.text
    assert retry.json()["accepted"] == 50
    assert pg_client.post("/v1/usage", json=batch).json()["duplicates"] == 50
    balance = pg_client.get("/v1/balances/u1").json()["credits"]
    _assert_charged_once(run_billing, postgres_url, 50, balance)
    assert pg_client.get("/readyz").status_code == 200


@pytest.mark.postgres
def test_pooled_connections_closed_while_idle_are_replaced_without_an_error(
    pg_client: TestClient, postgres_url: str
) -> None:
    """Connections are not pinged on checkout; one the server closed while it sat in
    the pool is seen by a poll() of its socket and replaced: no request fails."""
    body = {"endpoint": "Claude-Compatible", "model": "claude-sonnet-4-5", "tokens": {"prompt": 1}}

    def every_kind(tag: str) -> list[int]:
        return [
            pg_client.post("/v1/usage", json=event(f"idle-{tag}")).status_code,
            pg_client.post("/v1/balances/u1/check", json=body).status_code,
            pg_client.get("/v1/balances/u1").status_code,
            pg_client.get("/readyz").status_code,
        ]

    assert every_kind("warm") == [200, 200, 200, 200]
    for round_ in range(3):
        admin_run(postgres_url, TERMINATE_OTHERS)  # the service's pooled connections, idle
        time.sleep(0.2)  # the server's goodbye reaches the client sockets
        assert every_kind(str(round_)) == [200, 200, 200, 200]


@pytest.mark.postgres
def test_database_restarting_under_load_recovers_without_500s(
    pg_client: TestClient, postgres_url: str, run_billing: RunBilling
) -> None:
    """Backends terminated again and again while requests run: each answer is a 200
    or a 503, never a 500, and every 200 is in the ledger exactly once."""
    stop = threading.Event()

    def killer() -> None:
        while not stop.is_set():
            admin_run(postgres_url, TERMINATE_OTHERS)
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    accepted: set[str] = set()
    statuses: list[int] = []
    try:
        for i in range(40):
            response = pg_client.post("/v1/usage", json=event(f"load-{i}"))
            statuses.append(response.status_code)
            if response.status_code == 200:
                accepted.add(f"load-{i}")
            else:
                assert_refused(response, 503, "unavailable", case=f"load-{i}")
    finally:
        stop.set()
        thread.join()
    assert 500 not in statuses
    # After the outage every refused event can be retried and lands once.
    for i in range(40):
        assert pg_client.post("/v1/usage", json=event(f"load-{i}")).status_code == 200
    balance = pg_client.get("/v1/balances/u1").json()["credits"]
    _assert_charged_once(run_billing, postgres_url, 40, balance)


def _hold_request(db_url: str) -> Any:
    if db_url.startswith("postgresql"):
        return postgres_table_locked(db_url, "ledger_entry")
    return sqlite_write_locked(db_url)


def _wait_until_held(db_url: str, server: Any) -> int | None:
    """Until the request waits on the lock of ``_hold_request``; its backend's pid
    on PostgreSQL (events inserted, the ledger insert waits)."""
    if db_url.startswith("postgresql"):
        return wait_for_blocked_backend(db_url)
    wait_for_sqlite_lock_waiter(server.process.pid)  # parsed, priced, at BEGIN IMMEDIATE
    return None


def test_worker_killed_mid_batch_leaves_no_partial_batch_and_retry_charges_once(
    db_url: str,
    write_config: Callable[[str], Path],
    billing_server: BillingServer,
    run_billing: RunBilling,
) -> None:
    config = write_config(CLAUDE_CONFIG)
    batch = _batch(1000, "kill")
    with billing_server(db_url, config=config) as server:
        with _hold_request(db_url):
            thread, outcome = _in_thread(
                lambda: httpx.post(f"{server.base}/v1/usage", json=batch, timeout=60)
            )
            pid = _wait_until_held(db_url, server)
            server.signal(signal.SIGKILL)
            assert server.wait() == -signal.SIGKILL
            thread.join(60)
        assert isinstance(outcome[0], httpx.TransportError), outcome
    if pid is not None:
        wait_for_backend_gone(db_url, pid)
    assert nothing_written(db_url), row_counts(db_url)

    with billing_server(db_url, config=config) as restarted:
        retry = httpx.post(f"{restarted.base}/v1/usage", json=batch, timeout=120)
        assert retry.status_code == 200, retry.text
        assert retry.json()["accepted"] == 1000
        again = httpx.post(f"{restarted.base}/v1/usage", json=batch, timeout=120)
        assert again.json()["duplicates"] == 1000
        balance = httpx.get(f"{restarted.base}/v1/balances/u1").json()["credits"]
    _assert_charged_once(run_billing, db_url, 1000, balance)


def test_sigterm_lets_in_flight_requests_finish(
    db_url: str,
    write_config: Callable[[str], Path],
    tmp_path: Path,
    billing_server: BillingServer,
) -> None:
    batch = _batch(200, "term")
    log = tmp_path / "serve.log"
    config = write_config(CLAUDE_CONFIG)
    with billing_server(db_url, config=config, log_path=log) as server:
        with _hold_request(db_url):
            thread, outcome = _in_thread(
                lambda: httpx.post(f"{server.base}/v1/usage", json=batch, timeout=60)
            )
            _wait_until_held(db_url, server)
            server.signal(signal.SIGTERM)
            # uvicorn's graceful shutdown has begun and waits for our request.
            _wait_for_log(log, "Waiting for connections to close")
            assert server.process.poll() is None, "the server quit with a request in flight"
        thread.join(60)
        # uvicorn re-raises SIGTERM once the graceful shutdown is done.
        assert server.wait() in (0, -signal.SIGTERM)
    (response,) = outcome
    assert isinstance(response, httpx.Response), response
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 200
    assert row_counts(db_url)["usage_event"] == 200
