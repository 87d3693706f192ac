"""The spend ranking snapshot behind 'users by spend' and 'top users' (real database)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

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


def test_a_warm_up_overtaken_by_the_first_page_keeps_that_ranking(
    make_client: AppFactory,
) -> None:
    """The warm-up's thread may start after the first page computed the ranking
    itself (a slow thread start): it must not compute and swap in another one."""
    client = make_client(config_yaml=CONFIG, api_keys=API_KEYS)
    load_usage(client)
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    ranking = SpendRanking(runtime.read_sessions, runtime.clock, max_age_seconds=60)
    first = ranking.get()  # no warm-up yet: computed here
    ranking._background(None)  # the warm-up's thread, late: asked to replace "none yet"
    assert ranking.get() is first


def test_without_a_maximum_age_every_request_computes(make_client: AppFactory) -> None:
    client = make_client(config_yaml=CONFIG, api_keys=API_KEYS)
    load_usage(client)
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    ranking = SpendRanking(runtime.read_sessions, runtime.clock, max_age_seconds=0)
    assert ranking.get() is not ranking.get()


def test_a_failed_background_refresh_keeps_the_previous_ranking_and_retries(
    make_client: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A database error in the background (e.g. its connection killed) is logged, the
    previous ranking stays in use, and the next stale read tries again."""
    client = make_client(config_yaml=CONFIG, api_keys=API_KEYS)
    load_usage(client)
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    now = [runtime.clock()]
    failing = [True]

    def sessions() -> Session:
        if failing[0]:
            raise OperationalError("SELECT", None, Exception("connection lost"))
        return runtime.read_sessions()

    ranking = SpendRanking(sessions, lambda: now[0], max_age_seconds=60)  # type: ignore[arg-type]
    failing[0] = False
    first = ranking.get()
    failing[0] = True
    now[0] += timedelta(seconds=61)
    with caplog.at_level(logging.WARNING, logger="billing.console"):
        assert ranking.get() is first
        _wait_for(lambda: "console ranking refresh failed" in caplog.text)
    _wait_for(lambda: not ranking._refreshing)
    assert ranking.get() is first  # still served
    failing[0] = False
    _wait_for(lambda: ranking.get() is not first)  # the next stale read retried


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
