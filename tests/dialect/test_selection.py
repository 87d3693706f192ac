"""One writer per database, chosen with the engine and carried by the sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from billing import dialect
from billing.dialect import StaticQuery
from billing.dialect.postgresql import PostgreSQL
from billing.dialect.sqlite import SQLite
from billing.models import Balance
from billing.runtime import Runtime
from billing.settings import Settings

NOW = datetime(2026, 1, 2, tzinfo=UTC)
WRITERS = {"sqlite": SQLite, "postgresql": PostgreSQL}


def test_the_runtime_chooses_its_databases_writer_once_and_its_sessions_carry_it(
    db_url: str,
) -> None:
    runtime = Runtime(Settings(database_url=db_url))
    try:
        expected = WRITERS[runtime.engine.dialect.name]
        assert isinstance(runtime.dialect, expected)
        for sessions in (runtime.sessions, runtime.read_sessions):
            with sessions() as session:
                assert dialect.of(session) is runtime.dialect
    finally:
        runtime.close()


@pytest.mark.postgres
def test_only_the_holds_sessions_commit_without_waiting_for_the_log_flush(
    postgres_url: str,
) -> None:
    """runtime.group_hold's connections (billing/gateway/metering.py), set when they
    connect; every other session's commit waits for the flush."""
    runtime = Runtime(Settings(database_url=postgres_url))
    try:
        for sessions, expected in (
            (runtime.hold_sessions, "off"),
            (runtime.sessions, "on"),
            (runtime.read_sessions, "on"),
        ):
            with sessions() as session:
                assert dialect.of(session) is runtime.dialect
                assert session.scalar(text("SHOW synchronous_commit")) == expected
    finally:
        runtime.close()


@pytest.mark.postgres
def test_every_session_runs_in_utc(postgres_url: str) -> None:
    """Set when a connection opens, so timestamptz values load with datetime.UTC
    itself (no zone conversion per value on the ingest's hot path)."""
    runtime = Runtime(Settings(database_url=postgres_url))
    try:
        for sessions in (runtime.hold_sessions, runtime.sessions, runtime.read_sessions):
            with sessions() as session:
                assert session.scalar(text("SHOW TimeZone")) == "UTC"
                loaded = session.scalar(text("SELECT now()"))
                assert loaded is not None and loaded.tzinfo is UTC
    finally:
        runtime.close()


def test_a_session_made_elsewhere_gets_its_engines_writer(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            found = dialect.of(session)
            assert isinstance(found, WRITERS[engine.dialect.name])
            assert dialect.of(session) is found is dialect.for_engine(engine)
    finally:
        engine.dispose()


_BY_IDS = StaticQuery(
    lambda ids: select(Balance.user_id).where(ids(Balance.user_id, "ids")).order_by(Balance.user_id)
)


def _read_ids(db_url: str, user_ids: list[str], wanted: list[str]) -> list[Any]:
    """Balances for ``user_ids`` inserted, then ``_BY_IDS`` of ``wanted`` (rolled back)."""
    rows_in = [
        {
            "user_id": user_id,
            "amount_micro": 0,
            "auto_refill_enabled": False,
            "refill_interval_value": 30,
            "refill_interval_unit": "days",
            "refill_amount_micro": 0,
            "created_at": NOW,
            "updated_at": NOW,
        }
        for user_id in user_ids
    ]
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            session.execute(Balance.__table__.insert(), rows_in)  # type: ignore[attr-defined]
            rows = list(dialect.of(session).fetch(session, _BY_IDS, {"ids": wanted}))
            session.rollback()
    finally:
        engine.dispose()
    return rows


@pytest.mark.parametrize("count", [1, 120])
def test_a_static_query_reads_the_same_rows_through_either_writer(db_url: str, count: int) -> None:
    """Written once, built per database (an array parameter on PostgreSQL, an
    expanding IN on SQLite), for any number of values."""
    wanted = [f"s{i:03d}" for i in range(count)] + ["nobody"]
    rows = _read_ids(db_url, [f"s{i:03d}" for i in range(count + 5)], wanted)
    assert [row[0] for row in rows] == wanted[:-1]


def test_a_static_query_takes_any_text_in_its_list(db_url: str) -> None:
    """Quotes, backslashes, commas, braces, spaces and the word NULL in the list
    are plain values on either database."""
    odd = ['a"b', "c\\d", "x,y", "{z}", " sp ", "NULL", "ünï", "it's", '\\"', "p"]
    rows = _read_ids(db_url, [*odd, "q", "null", "sp"], [*odd, "nobody"])
    assert sorted(row[0] for row in rows) == sorted(odd)
