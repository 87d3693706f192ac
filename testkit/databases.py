"""Fresh databases for tests and benchmarks: a new migrated PostgreSQL database
(dropped afterwards) and a migrated SQLite file.

The PostgreSQL server is 127.0.0.1:5432 unless BILLING_TEST_POSTGRES_URL names
another administrative URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from billing.migrator import upgrade
from billing.models import Base
from billing.sqlite_writer import QUEUE_SUFFIX

POSTGRES_ADMIN_URL = os.environ.get(
    "BILLING_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def postgres_reachable() -> str | None:
    """None when the server answers, else why not."""
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means "not here"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


@contextmanager
def postgres_database(prefix: str = "billing_bench", *, keep: bool = False) -> Iterator[str]:
    """A new migrated database on the server; dropped on exit unless ``keep``."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def sqlite_database(directory: Path, *, keep: bool = False) -> Iterator[str]:
    """A new migrated SQLite file in ``directory``; removed on exit unless ``keep``."""
    path = directory / f"billing-{uuid.uuid4().hex[:8]}.db"
    url = f"sqlite:///{path}"
    try:
        upgrade(url)
        yield url
    finally:
        if not keep:
            for suffix in ("", "-wal", "-shm", QUEUE_SUFFIX):
                Path(f"{path}{suffix}").unlink(missing_ok=True)


def empty_tables(url: str) -> None:
    """Remove every row (between tests or phases that must start from the same state)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()
