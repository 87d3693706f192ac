"""`billing quote`: price one event from the command line."""

from __future__ import annotations

import json

from tests.cli.support import run_cli


def test_quote_prices_one_hour_cache_writes(sqlite_url: str) -> None:
    args = ("quote", "--endpoint", "anthropic", "--model", "claude-sonnet-4-5")
    outcome = run_cli(sqlite_url, *args, "--cache-write", "1000", "--cache-write-1h", "1000")
    assert outcome.exit_code == 0, outcome.stderr
    lines = json.loads(outcome.stdout)["lines"]
    assert lines["cache_write"] == {"tokens": 1000, "rate": "3.75", "credits": "3750"}
    assert lines["cache_write_1h"] == {"tokens": 1000, "rate": "6", "credits": "6000"}
