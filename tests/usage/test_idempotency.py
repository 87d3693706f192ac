"""A reused event_id never leaks the first event nor swallows the second one's usage.

Same id + same content: "duplicate" (the original's answer). Same id + other
content: 409 idempotency_conflict naming the id and the differing fields, and
nothing of the original (user, cost, balance). Sequential, in one batch, in a
group commit, and in races between transactions and worker processes.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from billing.balances.repository import ledger_sums
from billing.balances.service import reconcile
from billing.errors import IdempotencyConflict
from billing.group_commit import GroupCommitter
from billing.models import LedgerEntry, UsageEvent
from billing.runtime import Runtime
from billing.settings import Settings
from billing.usage import ingest, service
from billing.usage.schemas import UsageEventIn
from testkit.databases import empty_tables
from tests.conftest import AppFactory, LiveServer
from tests.helpers import CLAUDE_CONFIG, event

COST = 11250  # credits of the helper event
START = 100_000
# The helper event's tokens as Anthropic reports them (input excludes the cache).
ANTHROPIC_USAGE = {
    "input_tokens": 1000,
    "output_tokens": 200,
    "cache_creation_input_tokens": 1000,
    "cache_read_input_tokens": 5000,
}


def _conflict(response: httpx.Response, event_id: str, fields: list[str]) -> dict[str, Any]:
    assert response.status_code == 409, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == "idempotency_conflict"
    assert body["event_id"] == event_id and body["differing_fields"] == fields
    assert repr(event_id) in body["detail"] and all(f in body["detail"] for f in fields)
    return body


def _shows_nothing_of(body: dict[str, Any], *secrets: str) -> None:
    """No value of the original event: its user, cost or balance."""
    text = str(body)
    assert "cost" not in body and "balance" not in body and "events" not in body
    for secret in secrets:
        assert secret not in text, (secret, text)


def _credits(client: TestClient, user_id: str) -> int | None:
    response = client.get(f"/v1/balances/{user_id}")
    return int(response.json()["credits"]) if response.status_code == 200 else None


def _state(url: str) -> tuple[dict[str, str], int, list[Any]]:
    """event_id -> user_id of recorded events, usage ledger rows, reconcile mismatches."""
    runtime = Runtime(Settings(database_url=url))
    try:
        with runtime.sessions() as session:
            events = dict(session.execute(select(UsageEvent.event_id, UsageEvent.user_id)).all())
            rows = session.scalar(
                select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "usage")
            )
            return events, int(rows or 0), reconcile(session)
    finally:
        runtime.close()


def test_same_content_is_a_duplicate_other_content_a_conflict(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    first = client.post("/v1/usage", json=event("shared-id", "alice", conversation_id="c-alice"))
    assert first.json()["events"][0]["status"] == "accepted"

    # A retry, even restamped and with the provider's usage object for the same counts.
    retry = event("shared-id", "alice", conversation_id="c-alice")
    retry.pop("tokens")
    retry |= {
        "occurred_at": "2026-12-01T10:00:00Z",
        "provider_usage": {"format": "anthropic", "usage": ANTHROPIC_USAGE},
    }
    again = client.post("/v1/usage", json=retry).json()
    assert again["duplicates"] == 1 and again["events"][0]["status"] == "duplicate"
    assert again["events"][0]["cost"] == first.json()["events"][0]["cost"]
    assert again["events"][0]["balance"] == str(START - COST)

    # Another user reusing the id, with other tokens: refused, shown nothing of alice's.
    bob = event("shared-id", "bob", tokens={"prompt": 7, "completion": 1})
    body = _conflict(
        client.post("/v1/usage", json=bob),
        "shared-id",
        [
            "user_id",
            "conversation_id",
            "tokens.prompt",
            "tokens.completion",
            "tokens.cache_write",
            "tokens.cache_read",
        ],
    )
    _shows_nothing_of(body, "alice", "c-alice", str(COST), str(START - COST))
    assert _credits(client, "bob") is None  # nothing of bob's request was recorded
    assert _credits(client, "alice") == START - COST

    # Each field on its own is content.
    for field, value in [
        ("model", "claude-other"),
        ("context", "incomplete"),
        ("message_id", "m-2"),
        ("reservation_id", "res-x"),
    ]:
        changed = event("shared-id", "alice", conversation_id="c-alice", **{field: value})
        _conflict(client.post("/v1/usage", json=changed), "shared-id", [field])
    other_endpoint = event("shared-id", "alice", conversation_id="c-alice", endpoint="Local")
    other_endpoint["model"] = "llama3.1:8b"
    _conflict(client.post("/v1/usage", json=other_endpoint), "shared-id", ["endpoint", "model"])
    assert _credits(client, "alice") == START - COST


def test_a_batch_with_a_conflict_is_refused_whole(make_client: AppFactory, db_url: str) -> None:
    client = make_client(CLAUDE_CONFIG)
    assert client.post("/v1/usage", json=event("taken", "alice")).status_code == 200

    # Repeated inside the batch with other content: refused before anything is written.
    inside = [event("b-1", "carol"), event("b-2", "carol"), event("b-1", "dave")]
    body = _conflict(client.post("/v1/usage", json={"events": inside}), "b-1", ["user_id"])
    assert "events[2] (repeating events[0])" in body["detail"]
    _shows_nothing_of(body, "carol")

    # Repeated inside the batch with the same content: a duplicate, as before.
    same = client.post("/v1/usage", json={"events": [event("b-3", "carol")] * 2}).json()
    assert [e["status"] for e in same["events"]] == ["accepted", "duplicate"]

    # An id already recorded with other content: the whole batch is refused, small
    # batches (events inserted first) and large ones (ledger rows first) alike.
    for size in (3, ingest.LEDGER_FIRST_MIN_EVENTS + 5):
        batch = [event(f"n{size}-{i}", "carol") for i in range(size)]
        batch[1] = event("taken", "carol")
        body = _conflict(client.post("/v1/usage", json={"events": batch}), "taken", ["user_id"])
        assert body["detail"].startswith("events[1]: ")
        _shows_nothing_of(body, "alice")
    events, usage_rows, mismatches = _state(db_url)
    assert events == {"taken": "alice", "b-3": "carol"}
    assert usage_rows == 8 and mismatches == []
    assert _credits(client, "carol") == START - COST


def test_events_recorded_before_fingerprints_compare_by_their_columns(
    make_client: AppFactory,
) -> None:
    """Rows from before migration 0004 have no fingerprint: their stored columns decide."""
    client = make_client(CLAUDE_CONFIG)
    client.post("/v1/usage", json=event("old", "alice", message_id="m-1"))
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        session.execute(update(UsageEvent).values(fingerprint=None))
        session.commit()
    same = client.post("/v1/usage", json=event("old", "alice", message_id="m-1"))
    assert same.json()["events"][0]["status"] == "duplicate"
    other = client.post("/v1/usage", json=event("old", "alice", message_id="m-2"))
    _conflict(other, "old", ["message_id"])
    assert _credits(client, "alice") == START - COST


def _runtime(url: str, config: Path) -> Runtime:
    return Runtime(Settings(database_url=url, config=config))


def _prepared(runtime: Runtime, *bodies: dict[str, Any]) -> list[service.PricedEvent]:
    events = [UsageEventIn.model_validate(body) for body in bodies]
    return service.prepare_events(runtime.snapshot, events, runtime.clock())


def _held(gate: threading.Event, calls: list[int]) -> Any:
    """record_requests once ``gate`` opens, so submissions queue into one group."""

    def work(session: Session, snapshot: Any, requests: Any, now: Any) -> Any:
        assert gate.wait(30)
        calls.append(len(requests))
        return service.record_requests(session, snapshot, requests, now)

    return work


def _group_outcome(future: Any) -> str:
    try:
        return str(future.result(60)[0].status)
    except IdempotencyConflict as exc:
        assert "alice" not in exc.detail and str(COST) not in exc.detail
        return f"409 {','.join(exc.extra['differing_fields'])}"


def _submit_blocker(committer: GroupCommitter, runtime: Runtime, work: Any, event_id: str) -> Any:
    """A request the committer takes alone and holds: the next ones queue into one group."""
    future = committer.submit(work, runtime.snapshot, _prepared(runtime, event(event_id)), 1)
    deadline = time.monotonic() + 30
    while committer.waiting and time.monotonic() < deadline:
        time.sleep(0.01)
    return future


def test_in_a_group_commit_a_later_request_reusing_an_id_is_refused_alone(
    db_url: str, write_config: Any
) -> None:
    """Requests of one group count as posted one after the other."""
    runtime = _runtime(db_url, write_config(CLAUDE_CONFIG))
    with runtime.sessions() as session:
        old = _prepared(runtime, event("old", "alice"))
        service.record(session, runtime.snapshot, old, runtime.clock())
        session.commit()
    gate = threading.Event()
    calls: list[int] = []
    work = _held(gate, calls)  # one function: groups hold submissions of the same work
    committer = GroupCommitter(runtime.sessions, runtime.clock, max_items=1000, threads=1)
    requests = [
        event("g-x", "alice"),
        event("g-y", "alice"),
        event("g-x", "mallory"),  # reuses the first request's id: 409
        event("g-x", "alice"),  # the first request again: duplicate
        event("g-z", "alice"),
    ]
    try:
        blocker = _submit_blocker(committer, runtime, work, "g-0")
        futures = [
            committer.submit(work, runtime.snapshot, _prepared(runtime, body), 1)
            for body in requests
        ]
        gate.set()
        outcomes = [_group_outcome(f) for f in [blocker, *futures]]
        assert calls == [1, 5]  # the five went together and the group was not retried
        # A request reusing an id already committed: refused alone as well (the
        # group is retried request by request, the others still land).
        gate.clear()
        calls.clear()
        blocker = _submit_blocker(committer, runtime, work, "g-1")
        later = [event("g-v", "alice"), event("old", "mallory"), event("g-w", "alice")]
        futures = [
            committer.submit(work, runtime.snapshot, _prepared(runtime, body), 1) for body in later
        ]
        gate.set()
        outcomes += [_group_outcome(f) for f in [blocker, *futures]]
    finally:
        committer.close()
    assert outcomes == [
        "accepted",
        "accepted",
        "accepted",
        "409 user_id",
        "duplicate",
        "accepted",
        "accepted",
        "accepted",
        "409 user_id",
        "accepted",
    ]
    assert calls == [1, 3, 1, 1, 1]  # the failed group of three, then each alone
    events, _, mismatches = _state(db_url)
    assert "mallory" not in events.values() and mismatches == []
    assert len(events) == 8
    runtime.close()


@pytest.mark.postgres
@pytest.mark.parametrize("others", [1, ingest.LEDGER_FIRST_MIN_EVENTS])  # events, ledger first
def test_a_race_with_other_content_ends_in_one_accepted_and_one_conflict(
    postgres_url: str, write_config: Any, others: int
) -> None:
    """T1 inserts X for alice and stays open; T2 posts X for mallory (and others) and
    waits on X's unique-index entry. When T1 commits, T2 must fail with the
    conflict, not answer alice's event as mallory's duplicate."""
    from tests.usage.test_group_commit import race_two_records

    empty_tables(postgres_url)
    runtime = _runtime(postgres_url, write_config(CLAUDE_CONFIG))
    try:
        first = _prepared(runtime, event("race-x", "alice"))
        ys = [event(f"race-y{i:03d}", "mallory") for i in range(others)]
        second = _prepared(runtime, *ys, event("race-x", "mallory", tokens={"prompt": 1}))
        one, two = race_two_records(runtime, first, second)
        assert [o.status for o in one.result(30)] == ["accepted"]
        with pytest.raises(IdempotencyConflict) as refused:
            two.result(30)
        assert refused.value.extra == {
            "event_id": "race-x",
            "differing_fields": [
                "user_id",
                "tokens.prompt",
                "tokens.completion",
                "tokens.cache_write",
                "tokens.cache_read",
            ],
        }
        assert f"events[{others}]: " in refused.value.detail
        events, usage_rows, mismatches = _state(postgres_url)
        assert events == {"race-x": "alice"} and usage_rows == 4 and mismatches == []
    finally:
        runtime.close()


def _post_each(base: str, client_no: int, ids: list[str]) -> dict[str, tuple[str, Any]]:
    """Client ``client_no`` posts every id as its own request, for its own user."""
    user = f"racer-{client_no % 3}"  # clients n and n+3 send the same content
    outcomes: dict[str, tuple[str, Any]] = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        for event_id in ids:
            response = client.post("/v1/usage", json=event(event_id, user))
            if response.status_code == 409:
                body = response.json()
                assert body["error"] == "idempotency_conflict", body
                assert body["differing_fields"] == ["user_id"], body
                assert "racer" not in response.text, body
                outcomes[event_id] = ("conflict", None)
            else:
                assert response.status_code == 200, response.text
                result = response.json()["events"][0]
                outcomes[event_id] = (result["status"], result["balance"])
    return outcomes


@pytest.mark.postgres
def test_worker_processes_racing_on_ids_with_other_content(
    postgres_url: str, write_config: Any, live_server: LiveServer
) -> None:
    """Six clients against four workers post the same 60 ids, each for its user
    (two clients per user): per id, exactly one client is accepted, the client
    sending the same content gets "duplicate", the four others 409."""
    empty_tables(postgres_url)
    config: Path = write_config(CLAUDE_CONFIG)
    ids = [f"contended-{i:02d}" for i in range(60)]
    with live_server(postgres_url, config=config, workers=4) as base, ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda n: _post_each(base, n, ids), range(6)))
    events, usage_rows, mismatches = _state(postgres_url)
    assert len(events) == 60 and usage_rows == 60 * 4 and mismatches == []
    charged = {user: 0 for user in ("racer-0", "racer-1", "racer-2")}
    for event_id in ids:
        statuses = [results[n][event_id][0] for n in range(6)]
        assert statuses.count("accepted") == 1, (event_id, statuses)
        winner = statuses.index("accepted")
        assert statuses[(winner + 3) % 6] == "duplicate", (event_id, statuses)
        assert statuses.count("conflict") == 4, (event_id, statuses)
        assert events[event_id] == f"racer-{winner % 3}"
        charged[f"racer-{winner % 3}"] += COST
    runtime = Runtime(Settings(database_url=postgres_url))
    try:
        with runtime.sessions() as session:
            sums = ledger_sums(session)
    finally:
        runtime.close()
    # A user is seen (start balance) only when one of its events is accepted.
    assert sums == {user: (START - spent) * 1_000_000 for user, spent in charged.items() if spent}


def test_the_one_hour_share_of_cache_writes_is_content(make_client: AppFactory) -> None:
    """cache_write_tokens holds both TTLs; moving writes between the 5-minute and
    the 1-hour rate changes the charge, so it is a conflict, not a duplicate."""
    client = make_client(CLAUDE_CONFIG)
    first = event("ttl-1", tokens={"prompt": 10, "cache_write": 1000})
    assert client.post("/v1/usage", json=first).json()["events"][0]["status"] == "accepted"
    moved = event("ttl-1", tokens={"prompt": 10, "cache_write": 400, "cache_write_1h": 600})
    body = _conflict(client.post("/v1/usage", json=moved), "ttl-1", ["tokens.cache_write_1h"])
    assert not body["detail"].startswith("events["), "a single event is not named by index"
    batch = client.post("/v1/usage", json={"events": [event("ttl-2"), moved]})
    assert _conflict(batch, "ttl-1", ["tokens.cache_write_1h"])["detail"].startswith("events[1]")
    assert client.post("/v1/usage", json=first).json()["events"][0]["status"] == "duplicate"
