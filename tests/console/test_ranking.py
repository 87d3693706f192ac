"""The spend ranking snapshot behind 'users by spend' and 'top users' (real database)."""

from __future__ import annotations

import time
from datetime import timedelta

from billing.console.queries import SpendRanking
from billing.runtime import Runtime
from tests.conftest import AppFactory
from tests.console.support import ADMIN_KEY, API_KEYS, CONFIG, load_usage


def test_snapshot_is_reused_then_refreshed_in_the_background(make_client: AppFactory) -> None:
    client = make_client(config_yaml=CONFIG, api_keys=API_KEYS)
    load_usage(client)
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    now = [runtime.clock()]
    ranking = SpendRanking(runtime.read_sessions, lambda: now[0], max_age_seconds=60)
    ranking.warm()  # what the sign-in page does
    first = ranking.get()
    assert [user for _, user in first.order] == ["alice", "bob", "carol"]
    assert first.spend["carol"] == 0

    event = {
        "event_id": "ranking-1",
        "user_id": "carol",
        "endpoint": "Claude-Compatible",
        "model": "claude-sonnet-4-5",
        "tokens": {"prompt": 10_000_000, "completion": 0},
    }
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    assert client.post("/v1/usage", json=event, headers=headers).status_code == 200
    assert ranking.get() is first  # younger than the maximum age: reused

    now[0] += timedelta(seconds=61)
    assert ranking.get() is first  # stale: still served while the new one is computed
    deadline = time.monotonic() + 30
    while (current := ranking.get()) is first:
        assert time.monotonic() < deadline, "the background refresh did not finish"
        time.sleep(0.05)
    assert current.order[0][1] == "carol"
    assert current.spend["carol"] == 30_000_000 * 1_000_000  # 10M tokens at 3 credits each


def test_without_a_maximum_age_every_request_computes(make_client: AppFactory) -> None:
    client = make_client(config_yaml=CONFIG, api_keys=API_KEYS)
    load_usage(client)
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    ranking = SpendRanking(runtime.read_sessions, runtime.clock, max_age_seconds=0)
    assert ranking.get() is not ranking.get()
