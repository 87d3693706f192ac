"""deploy/prometheus/alerts.yml: promtool's own unit tests pass, and every metric the
rules read is one the service exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.metrics.prometheus import REQUIRE_PROMETHEUS

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool not found (Debian package prometheus)"
        if REQUIRE_PROMETHEUS:
            pytest.fail(message + " but BILLING_REQUIRE_PROMETHEUS=1")
        pytest.skip(message + ": alert rule tests skipped")
    return found


def test_promtool_checks_and_unit_tests_pass() -> None:
    promtool = _promtool()
    for command in (
        [promtool, "check", "rules", "alerts.yml"],
        [promtool, "test", "rules", "alerts.test.yml"],
    ):
        done = subprocess.run(command, cwd=RULES, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_rule_has_a_unit_test() -> None:
    rules = yaml.safe_load((RULES / "alerts.yml").read_text())
    tests = yaml.safe_load((RULES / "alerts.test.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    fired = {
        case["alertname"]
        for test in tests["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert alerts == fired


def test_the_rules_read_metrics_the_service_exports(client: TestClient) -> None:
    exported = {
        line.split()[2]
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("# TYPE")
    }
    rules = yaml.safe_load((RULES / "alerts.yml").read_text())
    used: set[str] = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            for name in re.findall(r"\bbilling_[a-z0-9_]+", rule["expr"]):
                # "# TYPE" names a histogram without the suffixes of its series.
                for suffix in HISTOGRAM_SUFFIXES:
                    name = name.removesuffix(suffix)
                used.add(name)
    assert sorted(used - exported) == []
