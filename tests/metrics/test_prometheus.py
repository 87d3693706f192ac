"""The real service with 2 workers, scraped by a real Prometheus.

Every PromQL expression of the Grafana dashboard must parse and return data,
and the exposition must pass `promtool check metrics`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from testkit.live import free_port
from tests.conftest import LiveServer
from tests.helpers import CLAUDE_CONFIG, event
from tests.metrics.prometheus import (
    grafana_expressions,
    metric_names,
    query,
    require_binary,
    running_prometheus,
    wait_until,
)

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "billing-dashboard.json"
EVENTS = 12

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


def _traffic(base: str, config: Path) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        bodies = []
        for index in range(EVENTS):
            # A new connection each time, so both workers get some of the requests.
            body = event(f"e{index}", f"u{index % 3}")
            if index % 4 == 0:
                body["model"] = "unlisted-model"  # fallback rate, label "other"
            assert httpx.post(f"{base}/v1/usage", json=body).status_code == 200
            bodies.append(body)
        assert client.post("/v1/usage", json=bodies[0]).json()["duplicates"] == 1
        bad = event("x1", endpoint="nowhere")
        assert client.post("/v1/usage", json=bad).status_code == 422
        grant = client.post("/v1/balances/u1/credits", json={"amount": "5", "reason": "test"})
        assert grant.status_code == 200
        assert client.post("/v1/admin/reload").status_code == 200
        good = config.read_text(encoding="utf-8")
        config.write_text("balance: [not, a, mapping]\n", encoding="utf-8")
        assert client.post("/v1/admin/reload").status_code == 422
        config.write_text(good, encoding="utf-8")
        assert client.get("/no/such/path").status_code == 404


def _has_data(prometheus: httpx.Client, expression: str) -> bool:
    return bool(query(prometheus, expression)["result"])


def test_prometheus_scrapes_two_workers_and_every_dashboard_query_has_data(
    db_url: str, tmp_path: Path, write_config: Callable[[str], Path], live_server: LiveServer
) -> None:
    promtool = require_binary("promtool")
    require_binary("prometheus")
    config = write_config(CLAUDE_CONFIG)
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    expressions = grafana_expressions(dashboard)
    assert len(expressions) >= 15

    port = free_port()
    # Prometheus first: it applies new targets only every 5 s, which overlaps the
    # workers' start-up this way.
    with (
        running_prometheus(f"127.0.0.1:{port}", tmp_path) as prometheus,
        live_server(
            db_url, config=config, workers=2, port=port, log_path=tmp_path / "serve.log"
        ) as base,
    ):
        wait_until(lambda: _has_data(prometheus, "up == 1"), 60, "no successful scrape")
        _traffic(base, config)
        exposition = httpx.get(f"{base}/metrics").text
        # Aggregated over both workers: exact totals, no per-process series.
        expected = f'billing_usage_events_total{{outcome="accepted"}} {float(EVENTS)}'
        assert expected in exposition
        assert 'pid="' not in exposition
        assert "python_gc_objects_collected_total" not in exposition  # multiprocess registry
        check = subprocess.run(
            [promtool, "check", "metrics"], input=exposition.encode(), capture_output=True
        )
        assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()

        accepted = f'sum(billing_usage_events_total{{outcome="accepted"}}) == {EVENTS}'
        wait_until(lambda: _has_data(prometheus, accepted), 60, "traffic never scraped")
        # rate() needs two samples after the traffic: wait until every panel has data.
        empty: list[str] = []

        def all_have_data() -> bool:
            empty[:] = [e for e in expressions if not _has_data(prometheus, e)]
            return not empty

        try:
            wait_until(all_have_data, 30, "")
        except AssertionError:
            pytest.fail("dashboard queries with no data:\n" + "\n".join(empty))

        names = query(prometheus, "group by (__name__) ({__name__=~'billing_.+'})")
        scraped = {series["metric"]["__name__"] for series in names["result"]}
        used = set().union(*(metric_names(e) for e in expressions))
        assert used <= scraped, f"dashboard uses metrics never exposed: {used - scraped}"
