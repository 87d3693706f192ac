"""Shared fixtures: real databases (SQLite file and PostgreSQL), real migrations, real app.

Every database test runs on both backends through the ``db_url`` fixture.
PostgreSQL tests use the server at 127.0.0.1:5432 (override with
BILLING_TEST_POSTGRES_URL); each test session creates and drops its own
database. Without a server they skip with a message, except when
BILLING_REQUIRE_POSTGRES=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from billing.main import create_app
from billing.migrator import upgrade
from billing.runtime import Runtime
from billing.settings import Settings
from testkit.databases import (
    POSTGRES_ADMIN_URL,
    empty_tables,
    postgres_database,
    postgres_reachable,
)

REQUIRE_POSTGRES = os.environ.get("BILLING_REQUIRE_POSTGRES") == "1"


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
    """Build the real app over a real database: make_client(config_yaml=..., **settings)."""
    clients: list[TestClient] = []

    def make(config_yaml: str | None = None, **overrides: Any) -> TestClient:
        values: dict[str, Any] = {"database_url": db_url}
        if config_yaml is not None:
            values["config"] = write_config(config_yaml)
        values.update(overrides)
        settings = Settings(**values)
        app = create_app(settings, Runtime(settings))
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: AppFactory) -> TestClient:
    """The app with the built-in defaults (no config file)."""
    return make_client()
