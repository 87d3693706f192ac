"""`billing serve` start-up: a config or key problem is one clear message and exit 2;
a good start logs which config it loaded. The real command, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from testkit.live import Server, free_port
from tests.cli.support import balances, run_cli
from tests.helpers import CLAUDE_CONFIG, event

# Every test here runs the real command in a subprocess.
pytestmark = pytest.mark.e2e


def _serve(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")}
    child_env.update({"BILLING_DATABASE_URL": f"sqlite:///{tmp_path}/billing.db", **env})
    command = [sys.executable, "-m", "billing", "serve", "--port", str(free_port())]
    return subprocess.run(
        command, env=child_env, capture_output=True, text=True, timeout=60, check=False
    )


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("case", "what", "fix"),
    [
        ("missing config file", "No such file or directory", "BILLING_CONFIG"),
        ("bad YAML", "invalid YAML: line 2", "billing config check"),
        ("not a mapping", "the document must be a mapping", "billing config check"),
        ("short API key", "BILLING_API_KEYS: API keys must be at least 16", "key:scope"),
        ("API keys not JSON", "BILLING_API_KEYS: Expecting", "JSON object"),
        ("unknown scope", "unknown API key scope(s): root", "ingest, read, admin"),
        ("missing keys file", "BILLING_API_KEYS_FILE", "key:scope"),
        ("bad setting", "BILLING_PORT", "correct or unset"),
    ],
)
def test_a_bad_start_is_one_message_and_exit_2(
    tmp_path: Path, case: str, what: str, fix: str
) -> None:
    env = {
        "missing config file": {"BILLING_CONFIG": str(tmp_path / "missing.yaml")},
        "bad YAML": {"BILLING_CONFIG": _write(tmp_path, "bad.yaml", "endpoints: [\n")},
        "not a mapping": {"BILLING_CONFIG": _write(tmp_path, "list.yaml", "- a\n- b\n")},
        "short API key": {"BILLING_API_KEYS": "short:admin"},
        "API keys not JSON": {"BILLING_API_KEYS": "{not json"},
        "unknown scope": {"BILLING_API_KEYS": "a-long-enough-key-0123456789:root"},
        "missing keys file": {"BILLING_API_KEYS_FILE": str(tmp_path / "keys.txt")},
        "bad setting": {"BILLING_PORT": "eighty"},
    }[case]
    result = _serve(tmp_path, env)
    assert result.returncode == 2, (case, result.stderr[-2000:])
    assert "Traceback" not in result.stderr + result.stdout, case
    assert result.stderr.startswith("billing serve: cannot start: "), (case, result.stderr)
    assert result.stderr.count("cannot start") == 1, (case, result.stderr)
    assert what in result.stderr and fix in result.stderr, (case, result.stderr)
    assert "fix: " in result.stderr, case
    assert "a-long-enough-key" not in result.stderr, "a key was echoed"


def test_the_start_log_says_which_config_was_loaded(tmp_path: Path, sqlite_url: str) -> None:
    config = Path(_write(tmp_path, "librechat.yaml", CLAUDE_CONFIG))
    log = tmp_path / "serve.log"
    with Server(sqlite_url, config=config, log_path=log) as server:
        # Over real HTTP too: a trailing slash is the route itself, not an empty 307.
        slash = httpx.post(f"{server.base}/v1/quote/", json=event("q"), follow_redirects=False)
        assert slash.status_code == 200 and slash.json()["total_credits"], slash.text
        unknown = httpx.post(f"{server.base}/v1/usages/", json={}, follow_redirects=False)
        assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    lines = [line for line in log.read_text().splitlines() if "config loaded from" in line]
    assert len(lines) == 1, log.read_text()[-2000:]
    assert f"config loaded from {config}: 10 endpoints" in lines[0]
    assert "2 custom: Claude-Compatible, Local; 8 built-in" in lines[0]
    assert "balance on" in lines[0]


def test_a_negative_amount_gets_a_hint_about_double_dash(db_url: str) -> None:
    for command in ("add", "set"):
        refused = run_cli(db_url, "balance", command, "u1", "-500")
        assert refused.exit_code == 2
        assert "-500 reads as an option" in refused.stderr, refused.stderr
        assert "-- -500" in refused.stderr
    assert balances(db_url) == {}
    added = run_cli(db_url, "balance", "add", "u1", "--", "-500")
    assert added.exit_code == 0, added.stderr
    unknown = run_cli(db_url, "balance", "add", "u1", "5", "--bogus")
    assert unknown.exit_code == 2 and "No such option: --bogus" in unknown.stderr
