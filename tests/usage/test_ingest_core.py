"""The ingest core's checked assumptions (billing/usage/ingest.py), on real databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from billing.balances import repository as ledger
from billing.balances.service import reconcile
from billing.ledger import ledger_row
from billing.models import LedgerEntry, UsageEvent
from billing.runtime import Runtime
from billing.settings import Settings
from billing.usage import ingest, service
from billing.usage.schemas import UsageEventIn
from testkit.databases import empty_tables
from tests.helpers import CLAUDE_CONFIG, event

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def runtime(db_url: str, write_config: Any) -> Iterator[Runtime]:
    runtime = Runtime(Settings(database_url=db_url, config=write_config(CLAUDE_CONFIG)))
    yield runtime
    runtime.close()


def _prepared(runtime: Runtime, count: int) -> list[service.PricedEvent]:
    events = [UsageEventIn.model_validate(event(f"sp-{i:03d}", "saver")) for i in range(count)]
    return service.prepare_events(runtime.snapshot, events, runtime.clock())


def _recorded(runtime: Runtime) -> tuple[int, int]:
    with runtime.sessions() as session:
        events = session.scalar(select(func.count()).select_from(UsageEvent))
        usage = session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "usage")
        )
    return int(events or 0), int(usage or 0)


@pytest.mark.parametrize("count", [1, ingest.LEDGER_FIRST_MIN_EVENTS])  # events, ledger first
def test_recording_inside_a_savepoint_is_refused_and_writes_nothing(
    runtime: Runtime, count: int
) -> None:
    """The undo of a race-lost event finds this transaction's rows by its top-level
    id; rows written in a SAVEPOINT carry another, so recording there is refused
    before anything is written. The same events at the top level are recorded."""
    priced = _prepared(runtime, count)
    with runtime.sessions() as session:
        with session.begin_nested(), pytest.raises(RuntimeError, match="SAVEPOINT"):
            service.record(session, runtime.snapshot, priced, runtime.clock())
        session.commit()
    assert _recorded(runtime) == (0, 0)

    with runtime.sessions() as session:
        outcomes = service.record(session, runtime.snapshot, priced, runtime.clock())
        session.commit()
    assert [o.status for o in outcomes] == ["accepted"] * count
    assert _recorded(runtime) == (count, 4 * count)  # four token types per event
    with runtime.sessions() as session:
        assert reconcile(session) == []


def _usage_row(amount: int) -> dict[str, Any]:
    return ledger_row("u", "usage", amount, NOW, token_type="prompt", event_id="e1")


@pytest.mark.postgres
def test_the_race_undo_deletes_only_rows_this_transaction_wrote(postgres_url: str) -> None:
    """Another transaction's rows for the same event stay; the count tells the core
    how many went; inside a SAVEPOINT the writer refuses instead of missing rows."""
    empty_tables(postgres_url)
    engine = create_engine(postgres_url)
    try:
        with Session(engine) as winner:
            ledger.insert_ledger(winner, [_usage_row(-1), _usage_row(-2)])
            winner.commit()
        with Session(engine) as loser:
            ledger.insert_ledger(loser, [_usage_row(-4), _usage_row(-8), _usage_row(-16)])
            with loser.begin_nested(), pytest.raises(RuntimeError, match="SAVEPOINT"):
                ledger.delete_usage_rows_written_here(loser, {"e1": "u"})
            assert ledger.delete_usage_rows_written_here(loser, {"e1": "u"}) == 3
            loser.commit()
        with Session(engine) as session:
            kept = session.scalars(select(LedgerEntry.amount_micro)).all()
    finally:
        engine.dispose()
    assert sorted(kept) == [-2, -1]


def test_a_single_writer_database_never_undoes_a_race(sqlite_url: str) -> None:
    """SQLite runs one write transaction at a time: a race to undo means the core
    lost track of what it wrote, and the writer says so instead of deleting."""
    empty_tables(sqlite_url)
    engine = create_engine(sqlite_url)
    try:
        with Session(engine) as session:
            ledger.insert_ledger(session, [_usage_row(-1)])
            with pytest.raises(RuntimeError, match="single-writer"):
                ledger.delete_usage_rows_written_here(session, {"e1": "u"})
            session.rollback()
    finally:
        engine.dispose()
