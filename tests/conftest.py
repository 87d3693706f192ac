"""Shared fixtures: real databases (SQLite file and PostgreSQL), real migrations, real app.

Every database test runs on both backends through the ``db_url`` fixture.
PostgreSQL tests use the server at 127.0.0.1:5432 (override with
BILLING_TEST_POSTGRES_URL); each test session creates and drops its own
database. Without a server they skip with a message, except when
BILLING_REQUIRE_POSTGRES=1 (CI), where they fail.

A test that starts a process (`billing serve`, a CLI command) takes it from
the live_server, billing_server or run_billing fixture: that marks it
``e2e``, which ``make test-fast`` (``-m "not e2e"``) leaves out.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from billing.main import create_app
from billing.migrator import upgrade
from billing.runtime import Runtime
from billing.settings import Settings
from testkit import live
from testkit.databases import (
    POSTGRES_ADMIN_URL,
    empty_tables,
    postgres_database,
    postgres_reachable,
)

REQUIRE_POSTGRES = os.environ.get("BILLING_REQUIRE_POSTGRES") == "1"

LiveServer = Callable[..., AbstractContextManager[str]]
BillingServer = type[live.Server]
RunBilling = Callable[..., subprocess.CompletedProcess[str]]
E2E_FIXTURES = frozenset({"live_server", "billing_server", "run_billing"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _processes_only_in_e2e_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """testkit.live refuses to start a process for a test not marked e2e."""
    marked = request.node.get_closest_marker("e2e") is not None
    monkeypatch.setenv(live.E2E_GUARD, "1" if marked else "0")


@pytest.fixture
def live_server() -> LiveServer:
    """``with live_server(db_url, config=..., workers=...) as base_url``: `billing serve`."""
    return live.live_server


@pytest.fixture
def billing_server() -> BillingServer:
    """``with billing_server(db_url, ...) as server``: to signal it or read its log."""
    return live.Server


@pytest.fixture
def run_billing() -> RunBilling:
    """``run_billing("reconcile", database_url=...)``: one CLI command in a subprocess."""
    return live.run_billing


@pytest.fixture(scope="session")
def postgres_server() -> str:
    reason = postgres_reachable()
    if reason is not None:
        message = f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} ({reason})"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " but BILLING_REQUIRE_POSTGRES=1")
        pytest.skip(message + ": PostgreSQL half skipped")
    return POSTGRES_ADMIN_URL


@pytest.fixture(scope="session")
def postgres_url(postgres_server: str) -> Iterator[str]:
    """One migrated database for the whole session (tables emptied per test)."""
    with postgres_database("billing_test") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "billing.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database: SQLite file and PostgreSQL."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    empty_tables(url)
    return url


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    def write(yaml_text: str) -> Path:
        path = tmp_path / f"librechat-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(yaml_text, encoding="utf-8")
        return path

    return write


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(db_url: str, write_config: Callable[[str], Path]) -> Iterator[AppFactory]:
    """Build the real app over a real database: make_client(config_yaml=..., **settings).
    Every client and runtime is closed after the test, whatever happened."""
    with ExitStack() as stack:

        def make(config_yaml: str | None = None, **overrides: Any) -> TestClient:
            values: dict[str, Any] = {"database_url": db_url}
            if config_yaml is not None:
                values["config"] = write_config(config_yaml)
            values.update(overrides)
            settings = Settings(**values)
            runtime = Runtime(settings)
            stack.callback(runtime.close)  # also if the app never starts
            return stack.enter_context(TestClient(create_app(settings, runtime)))

        yield make


@pytest.fixture
def client(make_client: AppFactory) -> TestClient:
    """The app with the built-in defaults (no config file)."""
    return make_client()
