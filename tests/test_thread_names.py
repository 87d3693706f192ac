"""The service's threads carry their names at the OS level (billing/thread_names.py)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.cpu_split import _children, _pids_named, thread_seconds
from billing.clock import utc_now
from billing.group_commit import GroupCommitter
from billing.thread_names import name_os_thread, os_name
from tests.conftest import LiveServer
from tests.helpers import CLAUDE_CONFIG, event

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="thread names are read from Linux's /proc"
)


def _os_name_of_this_thread() -> str:
    return Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text().strip()


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("commit-ingest_0", b"commit-ingest_0"),  # 15 bytes: kept whole
        ("billing-commit_0", b"billing-commit0"),  # the separator goes first
        ("webhook-dispatcher", b"webhook-dispatc"),
        ("commit-gateway_record_12", b"commit-gatewa12"),  # the number stays
    ],
)
def test_os_name_keeps_what_tells_threads_apart(name: str, kept: bytes) -> None:
    assert os_name(name) == kept
    assert len(kept) <= 15


@linux_only
def test_a_thread_names_itself_for_the_os() -> None:
    seen: list[str] = []

    def run() -> None:
        name_os_thread()
        seen.append(_os_name_of_this_thread())

    thread = threading.Thread(target=run, name="console-ranking")
    thread.start()
    thread.join()
    assert seen == ["console-ranking"]


@linux_only
def test_group_committer_threads_are_named_after_their_committer() -> None:
    sessions = sessionmaker(create_engine("sqlite://"), class_=Session)
    committer = GroupCommitter(sessions, utc_now, max_items=10, name="ingest")

    def work(session: Session, context: Any, payloads: list[int], now: Any) -> list[str]:
        return [_os_name_of_this_thread() for _ in payloads]

    try:
        assert committer.submit(work, None, 1, 1).result(10) == "commit-ingest_0"
    finally:
        committer.close()


@linux_only
def test_a_serving_worker_shows_its_committer_and_event_loop(
    db_url: str, write_config: Any, live_server: LiveServer
) -> None:
    """Over HTTP, two workers: after an event is recorded, each thread's CPU is
    attributed by role (what benchmarks/cpu_split.py prints)."""
    with live_server(db_url, config=write_config(CLAUDE_CONFIG), workers=2) as base:
        response = httpx.post(f"{base}/v1/usage", json=event("named-1"), timeout=30)
        assert response.status_code == 200, response.text
        serve = _pids_named(f"serve --port {base.rsplit(':', 1)[1]}")
        workers = _children(serve[0])[1:]
        names = {
            (task / "comm").read_text().strip()
            for pid in workers
            for task in Path(f"/proc/{pid}/task").iterdir()
        }
        roles = thread_seconds(workers)
    assert len(workers) >= 2
    assert "commit-ingest_0" in names  # the worker that took the event
    assert {"event loop", "commit-ingest"} <= roles.keys()
