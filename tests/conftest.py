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
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from billing.main import create_app
from billing.models import Base
from billing.runtime import Runtime
from billing.schema import upgrade
from billing.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get(
    "BILLING_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("BILLING_REQUIRE_POSTGRES") == "1"


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means "not here"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


def create_postgres_database() -> str:
    """A new empty database on the test server; returns its URL."""
    name = f"billing_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    reason = _postgres_available()
    if reason is not None:
        message = f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} ({reason})"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " but BILLING_REQUIRE_POSTGRES=1")
        pytest.skip(message + ": PostgreSQL half skipped")
    return POSTGRES_ADMIN_URL


@pytest.fixture(scope="session")
def postgres_url(postgres_server: str) -> Iterator[str]:
    """One migrated database for the whole session (tables emptied per test)."""
    url = create_postgres_database()
    upgrade(url)
    yield url
    drop_postgres_database(url)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "billing.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


def empty_tables(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()


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
