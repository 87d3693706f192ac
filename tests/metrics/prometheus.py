"""A real Prometheus server (the Debian `prometheus` package) for integration tests.

Without the binary the tests skip with a message, except when
BILLING_REQUIRE_PROMETHEUS=1 (set by .ci/run), where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkit.live import free_port, stop_process

REQUIRE_PROMETHEUS = os.environ.get("BILLING_REQUIRE_PROMETHEUS") == "1"

# Grafana's variables, replaced as Grafana would before sending a query.
GRAFANA_VARIABLES = {
    "$__rate_interval": "30s",
    "$__interval": "5s",
    "$__range": "5m",
    "$endpoint": ".*",
}


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"`{name}` not found (apt-get install prometheus)"
        if REQUIRE_PROMETHEUS:
            pytest.fail(message + " but BILLING_REQUIRE_PROMETHEUS=1")
        pytest.skip(message + ": Prometheus integration test skipped")
    return path


def grafana_expressions(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of the dashboard's panels, Grafana variables filled in."""
    expressions = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"unhandled Grafana variable in {expr!r}"
            expressions.append(expr)
    return expressions


def metric_names(expression: str) -> set[str]:
    return set(re.findall(r"\bbilling_[a-z0-9_]+", expression))


@contextmanager
def running_prometheus(target: str, workdir: Path) -> Iterator[httpx.Client]:
    """Prometheus on 127.0.0.1 scraping ``target`` (host:port) every second."""
    binary = require_binary("prometheus")
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: billing\n"
        f"    static_configs:\n      - targets: ['{target}']\n",
        encoding="utf-8",
    )
    log_path = workdir / "prometheus.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5)
    try:
        wait_until(lambda: _ready(client, process), 30, "Prometheus did not become ready")
        yield client
    finally:
        client.close()
        stop_process(process)


def _ready(client: httpx.Client, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"prometheus exited with {process.returncode}")
    try:
        return client.get("/-/ready").status_code == 200
    except httpx.TransportError:
        return False


def wait_until(condition: Any, seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.2)


def query(client: httpx.Client, expression: str) -> dict[str, Any]:
    """Evaluate at the current time; returns the API's ``data`` (raises on a parse error)."""
    response = client.get("/api/v1/query", params={"query": expression})
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", (expression, body)
    data: dict[str, Any] = body["data"]
    return data
