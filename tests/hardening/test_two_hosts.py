"""Two service hosts against one PostgreSQL database (README: Several hosts, one PostgreSQL).

Two `billing serve` processes (two workers each, as two machines would run
them) on different ports share one fresh database and nothing else. Concurrent
clients send every event twice, once to each host (batches one way, batches and
single events the other way, in reverse order), while another client reserves
on one host and settles or releases on the other. Afterwards: every event is
recorded once and answered as a duplicate by the host that lost, each
balance equals the sum of its ledger and the start balance minus the costs,
`billing reconcile` agrees, and the database never saw more connections than
hosts x workers x (pool size + overflow).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from testkit.databases import POSTGRES_ADMIN_URL, postgres_database, postgres_reachable
from tests.conftest import REQUIRE_POSTGRES, BillingServer, RunBilling
from tests.helpers import CLAUDE_CONFIG

pytestmark = pytest.mark.postgres

HOSTS, WORKERS, POOL_SIZE = 2, 2, 3
# hosts x workers x (pool size + overflow, which make_engine sets equal to the pool
# size, + the gateway holds' own pool of 1 + 1): README "Several hosts, one PostgreSQL"
MAX_CONNECTIONS = HOSTS * WORKERS * (2 * POOL_SIZE + 2)
START_CREDITS = 100_000  # CLAUDE_CONFIG's startBalance
USERS = [f"host-user-{i}" for i in range(8)]
SHARDS, SHARD_EVENTS = 4, 1000  # 4,000 distinct events, each sent to both hosts
RESERVATIONS = 24  # half settled, half released, always on the other host


def _event(index: int) -> dict[str, Any]:
    # Claude-Compatible: 3 credits per prompt token, 15 per completion token.
    return {
        "event_id": f"two-hosts-{index}",
        "user_id": USERS[index % len(USERS)],
        "endpoint": "Claude-Compatible",
        "model": "claude-sonnet-4-5",
        "tokens": {"prompt": 10 + index % 13, "completion": index % 5},
    }


def _credits(event: dict[str, Any]) -> int:
    return 3 * event["tokens"]["prompt"] + 15 * event["tokens"]["completion"]


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh migrated database that only this test's two hosts use."""
    reason = postgres_reachable()
    if reason is not None:
        message = (
            f"two hosts need one shared PostgreSQL database: not reachable at"
            f" {POSTGRES_ADMIN_URL} ({reason})"
        )
        if REQUIRE_POSTGRES:
            pytest.fail(message + " but BILLING_REQUIRE_POSTGRES=1")
        pytest.skip(message)
    with postgres_database("billing_two_hosts") as url:
        yield url


class Answers:
    """Every event answer from either host: (host, event_id, status, total_credits)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[tuple[int, str, str, str]] = []

    def post(self, client: httpx.Client, host: int, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post("/v1/usage", json=body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        with self.lock:
            for item in answer["events"]:
                credits = item["cost"]["total_credits"]
                self.rows.append((host, item["event_id"], item["status"], credits))
        return answer


def _batches_forward(base: str, host: int, events: list[dict[str, Any]], out: Answers) -> None:
    with httpx.Client(base_url=base, timeout=120) as client:
        for start in range(0, len(events), 40):
            out.post(client, host, {"events": events[start : start + 40]})


def _mixed_reverse(base: str, host: int, events: list[dict[str, Any]], out: Answers) -> None:
    """The same events backwards: a batch of 20, then 5 single events, and again."""
    backwards = events[::-1]
    with httpx.Client(base_url=base, timeout=120) as client:
        for start in range(0, len(backwards), 25):
            out.post(client, host, {"events": backwards[start : start + 20]})
            for single in backwards[start + 20 : start + 25]:
                out.post(client, host, single)


def _reserve_elsewhere(bases: list[str], out: Answers) -> list[dict[str, Any]]:
    """Reserve on one host; settle (even) or release (odd) on the other; the settling
    events as sent."""
    settled = []
    clients = [httpx.Client(base_url=base, timeout=120) for base in bases]
    try:
        for i in range(RESERVATIONS):
            here, there = i % HOSTS, (i + 1) % HOSTS
            user = USERS[i % len(USERS)]
            hold = clients[here].post(
                "/v1/reservations",
                json={"user_id": user, "endpoint": "Claude-Compatible",
                      "model": "claude-sonnet-4-5", "tokens": {"prompt": 1000},
                      "max_completion_tokens": 200},
            )  # fmt: skip
            assert hold.status_code == 201, hold.text
            reservation = hold.json()["reservation_id"]
            if i % 2:
                released = clients[there].post(f"/v1/reservations/{reservation}/release")
                assert released.status_code == 200, released.text
                expected = "released"
            else:
                event = {**_event(100_000 + i), "user_id": user, "reservation_id": reservation}
                answer = out.post(clients[there], there, event)
                assert answer["events"][0]["reservation"]["outcome"] == "settled", answer
                settled.append(event)
                expected = "settled"
            seen = clients[here].get(f"/v1/reservations/{reservation}")
            assert seen.status_code == 200 and seen.json()["status"] == expected, seen.text
    finally:
        for client in clients:
            client.close()
    return settled


class ConnectionWatch:
    """The most connections the hosts held to the database at once (sampled)."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.most = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        query = text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        with self.engine.connect() as conn:
            while not self.stopped.is_set():
                self.most = max(self.most, int(conn.execute(query).scalar_one()))
                conn.rollback()
                self.stopped.wait(0.02)

    def __enter__(self) -> ConnectionWatch:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self.thread.join()
        self.engine.dispose()


def _database_figures(url: str) -> tuple[int, dict[str, tuple[int, int]]]:
    """Events recorded, and per user (balance, sum of ledger) in micro-credits."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            events = int(conn.execute(text("SELECT count(*) FROM usage_event")).scalar_one())
            rows = conn.execute(
                text(
                    "SELECT b.user_id, b.amount_micro, coalesce(sum(l.amount_micro), 0)"
                    " FROM balance b LEFT JOIN ledger_entry l ON l.user_id = b.user_id"
                    " GROUP BY b.user_id, b.amount_micro"
                )
            )
            users = {user: (int(balance), int(ledger)) for user, balance, ledger in rows}
    finally:
        engine.dispose()
    return events, users


def test_two_hosts_share_one_database_and_reconcile(
    database_url: str,
    billing_server: BillingServer,
    run_billing: RunBilling,
    write_config: Any,
    tmp_path: Path,
) -> None:
    config: Path = write_config(CLAUDE_CONFIG)
    env = {"BILLING_LOG_LEVEL": "WARNING", "BILLING_DB_POOL_SIZE": str(POOL_SIZE)}
    events = [_event(i) for i in range(SHARDS * SHARD_EVENTS)]
    shards = [events[k * SHARD_EVENTS : (k + 1) * SHARD_EVENTS] for k in range(SHARDS)]
    answers = Answers()
    with ExitStack() as stack:
        logs = [tmp_path / f"host-{h}.log" for h in range(HOSTS)]
        hosts = [
            stack.enter_context(
                billing_server(database_url, config=config, workers=WORKERS, env=env, log_path=log)
            )
            for log in logs
        ]
        bases = [host.base for host in hosts]
        versions = {httpx.get(f"{b}/readyz").headers["x-billing-config-version"] for b in bases}
        assert len(versions) == 1, versions  # one config, whichever host answers
        began = time.perf_counter()
        with ConnectionWatch(database_url) as watch, ThreadPoolExecutor(2 * SHARDS + 1) as pool:
            futures = [pool.submit(_reserve_elsewhere, bases, answers)]
            for k, shard in enumerate(shards):
                one, other = k % HOSTS, (k + 1) % HOSTS
                futures.append(pool.submit(_batches_forward, bases[one], one, shard, answers))
                futures.append(pool.submit(_mixed_reverse, bases[other], other, shard, answers))
            settling: list[dict[str, Any]] = futures[0].result()
            for future in futures[1:]:
                future.result()
        elapsed = time.perf_counter() - began
        # After the race, a whole shard again at the host that did not take it first.
        with httpx.Client(base_url=bases[1], timeout=120) as client:
            again = answers.post(client, 1, {"events": shards[0][:200]})
        assert again["accepted"] == 0 and again["duplicates"] == 200
        balances = {
            user: httpx.get(f"{bases[i % HOSTS]}/v1/balances/{user}").json()["credits"]
            for i, user in enumerate(USERS)
        }

    recorded = [*events, *settling]
    accepted = Counter(event_id for _, event_id, status, _ in answers.rows if status == "accepted")
    duplicate = Counter(event_id for _, event_id, status, _ in answers.rows if status != "accepted")
    # Each event accepted exactly once, by either host, and a duplicate at every other send.
    assert accepted == Counter(e["event_id"] for e in recorded)
    assert duplicate == Counter({e["event_id"]: 1 for e in events}) + Counter(
        {e["event_id"]: 1 for e in shards[0][:200]}
    )
    # Both hosts won some of the races (the events were not merely taken by one of them).
    assert {host for host, _, status, _ in answers.rows if status == "accepted"} == {0, 1}
    # The duplicate answer carries the cost the winning host recorded.
    costs: dict[str, set[str]] = {}
    for _, event_id, _, credits in answers.rows:
        costs.setdefault(event_id, set()).add(credits)
    assert all(len(seen) == 1 for seen in costs.values())

    n_events, per_user = _database_figures(database_url)
    assert n_events == len(recorded) == len(events) + RESERVATIONS // 2
    spent = Counter[str]()
    for event in recorded:
        spent[event["user_id"]] += _credits(event)
    assert set(per_user) == set(USERS)
    for user, (balance, ledger) in per_user.items():
        expected = (START_CREDITS - spent[user]) * 1_000_000
        assert balance == ledger == expected, (user, balance, ledger, expected)
        assert balances[user] == str(START_CREDITS - spent[user])
    done = run_billing("reconcile", database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert "every balance equals the sum of its ledger entries" in done.stdout
    assert 0 < watch.most <= MAX_CONNECTIONS, watch.most
    print(
        f"\n{HOSTS} hosts x {WORKERS} workers, one database: {len(answers.rows)} event answers"
        f" ({len(recorded)} events recorded once, {len(events)} sent to both hosts,"
        f" {RESERVATIONS} reservations) in {elapsed:.1f} s; at most {watch.most} connections"
        f" (limit {MAX_CONNECTIONS})"
    )
