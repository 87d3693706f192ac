"""SIGHUP rollouts of `billing serve --workers N`: all workers on one config, or none moved.

Real processes and sockets: the answers' X-Billing-Config-Version header and
the price they quote show which config each worker serves. Each quote opens a
new connection, so the kernel spreads them over the workers (SO_REUSEPORT).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from testkit.live import Server
from tests.cli.test_serve_workers import _wait_for, _workers
from tests.helpers import CLAUDE_CONFIG
from tests.metrics.scrape import parse, total

# Every test here runs `billing serve` in a subprocess.
pytestmark = pytest.mark.e2e

QUOTE = {"endpoint": "Claude-Compatible", "model": "claude-sonnet-4-5", "tokens": {"prompt": 1000}}
VERSION = "x-billing-config-version"
WORKERS = 2
# Enough fresh connections that every worker answers some (each lands on one of two
# workers at random: all on one worker has a chance of 2**-39).
QUOTES = 40


def _answers(server: Server) -> set[tuple[str, str]]:
    """(config version, price of 1,000 prompt tokens) of QUOTES quotes, each on a new connection."""
    seen = set()
    for _ in range(QUOTES):
        response = httpx.post(f"{server.base}/v1/quote", json=QUOTE, timeout=30)
        assert response.status_code == 200, response.text
        seen.add((response.headers[VERSION], response.json()["total_credits"]))
    return seen


def _listening_inodes(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
                found.add(fields[9])
    return found


def _listens(pid: int, port: int) -> bool:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return False
    return bool(inodes & _listening_inodes(port))


def _all_listening(server: Server) -> bool:
    workers = _workers(server)
    return len(workers) == WORKERS and all(_listens(pid, server.port) for pid in workers)


def _log(path: Path) -> Callable[[], str]:
    return lambda: path.read_text(errors="replace")


def _reloads_audited(server: Server, since: datetime) -> list[tuple[str, str, str]]:
    """(previous version, version, key id) of the config reloads audited since ``since``
    (the database is shared by the tests of the session)."""
    params = {"action": "config.reload", "since": since.isoformat()}
    answer = httpx.get(f"{server.base}/v1/audit", params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return [
        (entry["details"]["previous_version"], entry["details"]["version"], entry["key_id"])
        for entry in answer.json()["entries"]
    ]


def test_a_rollout_whose_new_worker_dies_is_rolled_back_and_a_good_one_switches_all(
    sqlite_url: str, write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    config = write_config(CLAUDE_CONFIG)
    log_path = tmp_path / "serve.log"
    log = _log(log_path)
    started = datetime.now(UTC)
    with Server(sqlite_url, config=config, workers=WORKERS, log_path=log_path) as server:
        _wait_for(lambda: f"with {WORKERS} workers" in log(), show=log)
        ((old_version, old_price),) = _answers(server)
        assert old_price == "3000"

        # A new price, and one of the new workers killed while it starts.
        config.write_text(CLAUDE_CONFIG.replace("prompt: 3", "prompt: 4"), encoding="utf-8")
        old_workers = _workers(server)
        server.signal(signal.SIGHUP)
        newcomers: set[int] = set()
        _wait_for(lambda: bool(newcomers.update(_workers(server) - old_workers) or newcomers))
        os.kill(min(newcomers), signal.SIGKILL)
        _wait_for(lambda: "rollout of version" in log() and "failed" in log(), show=log)
        assert f"keep serving config version {old_version}" in log()
        _wait_for(lambda: _workers(server) == old_workers, show=lambda: _workers(server))
        assert _answers(server) == {(old_version, "3000")}

        # A worker that dies now is replaced with the config its siblings serve,
        # not with what the file says by then.
        victim = min(old_workers)
        os.kill(victim, signal.SIGKILL)
        _wait_for(lambda: victim not in _workers(server) and _all_listening(server), show=log)
        assert _answers(server) == {(old_version, "3000")}

        # The same file without a fault: every worker switches.
        retiring = _workers(server)
        server.signal(signal.SIGHUP)
        _wait_for(lambda: "config rollout done" in log(), show=log)
        # The old workers stop listening as they take their SIGTERM (a few ms later).
        _wait_for(lambda: not any(_listens(pid, server.port) for pid in retiring), show=log)
        ((new_version, new_price),) = _answers(server)
        assert (new_price, len(new_version)) == ("4000", 12)
        assert new_version != old_version

        def metrics_settled() -> bool:
            scraped = parse(httpx.get(f"{server.base}/metrics", timeout=30).text)
            return (
                total(scraped, "billing_config_rollouts_total", result="failure") == 1
                and total(scraped, "billing_config_rollouts_total", result="success") == 1
                and total(scraped, "billing_config_info", version=new_version) == 1
                # the old workers are gone, and their series with them
                and total(scraped, "billing_config_info", version=old_version) == 0
                and total(scraped, "billing_config_last_reload_successful") == 1
            )

        scrape = lambda: httpx.get(f"{server.base}/metrics").text  # noqa: E731
        _wait_for(metrics_settled, timeout=30, show=scrape)
        # The rollout is in the audit trail (the refused ones are not).
        assert _reloads_audited(server, started) == [(old_version, new_version, "signal")]


def test_an_invalid_config_is_refused_and_every_worker_keeps_the_old_one(
    sqlite_url: str, write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    config = write_config(CLAUDE_CONFIG)
    log_path = tmp_path / "serve.log"
    log = _log(log_path)
    with Server(sqlite_url, config=config, workers=WORKERS, log_path=log_path) as server:
        _wait_for(lambda: f"with {WORKERS} workers" in log(), show=log)
        ((version, _),) = _answers(server)
        workers = _workers(server)
        config.write_text(CLAUDE_CONFIG.replace("prompt: 3", "prompt: -3"), encoding="utf-8")
        server.signal(signal.SIGHUP)
        _wait_for(lambda: "config rollout refused" in log(), show=log)
        assert "prompt" in log()  # the problem is named
        assert _workers(server) == workers  # no worker was started or stopped
        assert _answers(server) == {(version, "3000")}
        scraped = parse(httpx.get(f"{server.base}/metrics", timeout=30).text)
        assert total(scraped, "billing_config_rollouts_total", result="failure") == 1
        assert total(scraped, "billing_config_last_reload_successful") == 0


def test_an_old_worker_dying_during_a_rollout_is_replaced_and_the_rollout_completes(
    sqlite_url: str, write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    config = write_config(CLAUDE_CONFIG)
    log_path = tmp_path / "serve.log"
    log = _log(log_path)
    with Server(sqlite_url, config=config, workers=WORKERS, log_path=log_path) as server:
        _wait_for(lambda: f"with {WORKERS} workers" in log(), show=log)
        config.write_text(CLAUDE_CONFIG.replace("prompt: 3", "prompt: 5"), encoding="utf-8")
        old_workers = _workers(server)
        server.signal(signal.SIGHUP)
        # The new workers exist (and are still importing): the rollout is under way.
        _wait_for(lambda: bool(_workers(server) - old_workers))
        victim = min(old_workers)
        os.kill(victim, signal.SIGKILL)
        _wait_for(lambda: "config rollout done" in log(), show=log)
        during = log().split("config rollout: starting", 1)[1].split("config rollout done", 1)[0]
        assert f"worker pid {victim} (exit code -9) died; starting another" in during
        _wait_for(lambda: _all_listening(server), show=lambda: _workers(server))
        (version_and_price,) = _answers(server)
        assert version_and_price[1] == "5000"
        # The stand-in for the victim served the old config and left with the old workers.
        _wait_for(lambda: not (_workers(server) & old_workers) and len(_workers(server)) == 2)


def test_one_process_reloads_on_sighup_and_keeps_its_config_when_the_file_is_bad(
    sqlite_url: str, write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    """`--workers 1` (the SQLite default) has no supervisor: SIGHUP reloads in place
    instead of ending the process; a bad file leaves the old config serving."""
    config = write_config(CLAUDE_CONFIG)
    log_path = tmp_path / "serve.log"
    started = datetime.now(UTC)
    with Server(sqlite_url, config=config, workers=1, log_path=log_path) as server:
        [(old_version, old_price)] = _answers(server)
        config.write_text(CLAUDE_CONFIG.replace("prompt: 3\n", "prompt: 4\n"), encoding="utf-8")
        server.signal(signal.SIGHUP)
        _wait_for(lambda: "SIGHUP: config reloaded" in _log(log_path)(), show=_log(log_path))
        [(new_version, new_price)] = _answers(server)
        assert new_version != old_version and (old_price, new_price) == ("3000", "4000")
        assert _reloads_audited(server, started) == [(old_version, new_version, "signal")]

        config.write_text("endpoints: [\n", encoding="utf-8")
        server.signal(signal.SIGHUP)
        _wait_for(lambda: "SIGHUP: config not reloaded" in _log(log_path)(), show=_log(log_path))
        assert _answers(server) == {(new_version, new_price)}
