"""Migrations run forward and back on both databases, and agree with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from billing.migrator import downgrade, head_revision, upgrade
from billing.models import Base


def _diff(url: str) -> list[object]:
    engine = create_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return list(diff)


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    assert _diff(db_url) == []
    downgrade(db_url, "base")
    assert _tables(db_url) <= {"alembic_version"}
    upgrade(db_url)
    assert {"usage_event", "ledger_entry", "balance", "reservation"} <= _tables(db_url)
    assert _diff(db_url) == []
    assert head_revision() is not None


def test_readyz_refuses_when_schema_behind(make_client, db_url: str) -> None:  # type: ignore[no-untyped-def]
    client = make_client()
    assert client.get("/readyz").status_code == 200
    downgrade(db_url, "base")
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "billing migrate" in response.json()["detail"]
    finally:
        upgrade(db_url)
